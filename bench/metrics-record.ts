/**
 * Event-loop cost of the per-request metrics: recordMetrics() as shipped (plain numbers per
 * model, src/metrics/series.ts) against the same updates through prom-client's own Counter
 * and Histogram (what it replaced). README, Metrics. `npx tsx bench/metrics-record.ts`
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { createMetrics } from '../src/metrics/registry.ts';
import { modelLabel, recordMetrics } from '../src/metrics/record.ts';
import type { RequestRecord } from '../src/store/types.ts';
import { rec, usage } from '../test/contract/fixtures.ts';

const LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const TTFT = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
const records: RequestRecord[] = Array.from({ length: 64 }, (_, i) =>
  rec({ model: i % 4 ? 'claude-sonnet-4-5' : 'claude-haiku-4-5', latencyMs: 3 + i, ttftMs: 1 + i / 2, usage: usage({ input: 412 + i, output: 187, cacheRead: 128 }) }),
);

const shipped = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });

const registers = [new Registry()];
const requests = new Counter({ name: 'r', help: 'r', labelNames: ['model', 'status'], registers });
const tokens = new Counter({ name: 't', help: 't', labelNames: ['model', 'kind'], registers });
const duration = new Histogram({ name: 'd', help: 'd', labelNames: ['model'], buckets: LATENCY, registers });
const ttft = new Histogram({ name: 'f', help: 'f', labelNames: ['model'], buckets: TTFT, registers });
/** The updates recordMetrics made through prom-client before series.ts. */
function viaPromClient(r: RequestRecord): void {
  const model = r.model ?? 'unknown';
  requests.inc({ model, status: String(r.status) });
  duration.observe({ model }, r.latencyMs / 1000);
  if (r.ttftMs !== null) ttft.observe({ model }, r.ttftMs / 1000);
  const u = r.usage;
  if (u === null) return;
  const c1h = u.cacheCreation1h ?? 0;
  const kinds: Record<string, number> = { input: u.input, output: u.output, cache_creation_5m: u.cacheCreation - c1h, cache_creation_1h: c1h, cache_read: u.cacheRead };
  for (const [kind, n] of Object.entries(kinds)) if (n > 0) tokens.inc({ model, kind }, n);
}

function time(name: string, f: (r: RequestRecord) => void): void {
  for (let i = 0; i < 100_000; i++) f(records[i & 63]!);
  const n = 1_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f(records[i & 63]!);
  console.log(`${name.padEnd(12)} ${(Number(process.hrtime.bigint() - t0) / n / 1000).toFixed(3)} µs per request`);
}
for (let round = 0; round < 3; round++) {
  time('prom-client', viaPromClient);
  time('shipped', (r) => recordMetrics(shipped, r, modelLabel(shipped, r.model)));
}
