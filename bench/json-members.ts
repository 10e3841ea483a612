/**
 * The usage tap's JSON read: JSON.parse of a whole non-streamed Messages body against
 * parsePicked (src/usage/json-members.ts), which parses only the members metering reads.
 * Bodies of 1, 6 and 48 KB (the bench's answer text repeated). Medians of 9 rounds:
 *   npx tsx bench/json-members.ts
 */
import { parsePicked } from '../src/lib/json-members.ts';
import { messageJson } from '../test/helpers/mock-anthropic.ts';
import { median } from './lib/stats.ts';

const WANTED = new Set(['usage', 'model', 'id', 'stop_reason', 'error']);
const TEXT =
  'Connection pooling keeps TCP and TLS handshakes off the hot path, so per-request latency is dominated by the upstream itself; ' +
  'a proxy in front adds one loopback hop, header rewriting and a copy of each response chunk. Streaming responses should be ' +
  'forwarded chunk by chunk without buffering, otherwise "time to first token" grows with the size of the answer.\n';
const usage = {
  input_tokens: 412,
  output_tokens: 187,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 128,
  service_tier: 'standard',
};

for (const repeat of [3, 6, 10, 20, 160]) {
  const body = Buffer.from(messageJson({ usage, model: 'claude-sonnet-4-5-20250929', text: TEXT.repeat(repeat), id: 'msg_bench' }));
  const n = Math.max(2_000, Math.floor(20_000_000 / body.length));
  const full: number[] = [];
  const picked: number[] = [];
  for (let round = 0; round < 9; round++) {
    let t = performance.now();
    for (let i = 0; i < n; i++) JSON.parse(body.toString('utf8'));
    full.push(((performance.now() - t) * 1000) / n);
    t = performance.now();
    for (let i = 0; i < n; i++) parsePicked(body.toString('utf8'), WANTED);
    picked.push(((performance.now() - t) * 1000) / n);
  }
  const f = median(full);
  const p = median(picked);
  console.log(
    `${(body.length / 1024).toFixed(1).padStart(5)} KB body: JSON.parse ${f.toFixed(2)} µs, parsePicked ${p.toFixed(2)} µs (${((p / f) * 100).toFixed(0)}%)`,
  );
}
