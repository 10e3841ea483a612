/**
 * Event-loop cost of the per-request metrics: recordMetrics() as shipped (plain numbers per
 * model, src/metrics/series.ts) against the same updates through prom-client's own Counter
 * and Histogram (what it replaced). docs/observability.md, Metrics. `npx tsx bench/metrics-record.ts`
 */
import { createMetrics } from '../src/metrics/registry.ts';
import { modelLabel, recordMetrics } from '../src/metrics/record.ts';
import type { RequestRecord } from '../src/store/types.ts';
import { rec, usage } from '../test/contract/fixtures.ts';
import { promClientReference } from '../test/helpers/prom-client-reference.ts';

const records: RequestRecord[] = Array.from({ length: 64 }, (_, i) =>
  rec({
    model: i % 4 ? 'claude-sonnet-4-5' : 'claude-haiku-4-5',
    latencyMs: 3 + i,
    ttftMs: 1 + i / 2,
    usage: usage({ input: 412 + i, output: 187, cacheRead: 128 }),
  }),
);

const shipped = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });

/** The updates recordMetrics made through prom-client before series.ts. */
const viaPromClient = promClientReference({ keyLabel: false, tagLabel: false }).record;

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
