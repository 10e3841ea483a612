/**
 * Time to encode one stream event on the event loop: the `v1` form (usage as an object),
 * `v2` as shipped (usage as an array, src/store/record-codec.ts) and the sizes of both
 * (README, Storage and Performance). `npx tsx bench/event-encoding.ts`
 */
import { encodeRecord } from '../src/store/record-codec.ts';
import type { RequestRecord } from '../src/store/types.ts';
import { rec, usage } from '../test/contract/fixtures.ts';

const base = rec({
  id: '0b0d7a8e-1f1e-4a5b-9d8e-5f4c3b2a1a0f',
  ts: 1764305400123,
  model: 'claude-sonnet-4-5-20250929',
  keyId: 'a1b2c3d4e5f60718',
  usage: usage({ input: 412, output: 187, cacheRead: 128 }),
  costPicoUsd: 5_061_000_000,
  latencyMs: 3.211,
  ttftMs: 2.905,
  upstreamLatencyMs: 1.234,
  messageId: 'msg_bench_0000000000000001',
});
// 64 distinct records, so no call sees the same object twice in a row.
const records: RequestRecord[] = Array.from({ length: 64 }, (_, i) => ({ ...base, id: base.id.slice(0, -2) + String(i).padStart(2, '0'), latencyMs: 3 + i / 1000 }));

/** The `v1` encoding, as written before `v2`. */
function v1(r: RequestRecord): string {
  return JSON.stringify([
    r.id, r.ts, r.method, r.path, r.model, r.keyId, r.tag, r.status, r.stream ? 1 : 0, r.usage, r.usageMissing,
    r.partial ? 1 : 0, r.costPicoUsd, r.unpriced ? 1 : 0, r.free ? 1 : 0, r.latencyMs, r.ttftMs, r.upstreamLatencyMs, r.errorType, r.messageId,
  ]);
}

let sink = '';
function time(name: string, f: (r: RequestRecord) => string): void {
  for (let i = 0; i < 100_000; i++) sink = f(records[i & 63]!);
  const n = 1_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink = f(records[i & 63]!);
  const us = Number(process.hrtime.bigint() - t0) / n / 1000;
  console.log(`${name.padEnd(4)} ${us.toFixed(3)} µs per event, ${sink.length} characters`);
}
for (let round = 0; round < 3; round++) {
  time('v1', v1);
  time('v2', (r) => encodeRecord(r)[1]);
}
