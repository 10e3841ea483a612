/**
 * The batch create body scan (src/api/anthropic/batch-scan.ts): MB/s over a ~64 MB body of
 * Messages requests (English text with escapes, a system prompt, a tool), fed in 64 KiB chunks as
 * a socket delivers them, against JSON.parse of the same text. Medians of 5 rounds:
 *   npx tsx bench/batch-scan.ts
 */
import { BatchScan } from '../src/api/anthropic/batch-scan.ts';
import { median } from './lib/stats.ts';

const TEXT =
  'Connection pooling keeps TCP and TLS handshakes off the hot path, so per-request latency is dominated by the "upstream" itself;\n' +
  'a proxy in front adds one loopback hop, header rewriting and a copy of each response chunk — café, naïve, 日本語.\n';
const params = (i: number) => ({
  model: i % 3 === 0 ? 'claude-haiku-4-5' : 'claude-sonnet-4-5',
  max_tokens: 1024 * (1 + (i % 4)),
  system: [{ type: 'text', text: TEXT.repeat(4) }],
  tools: [{ name: 'lookup', description: 'Looks a word up', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
  messages: [
    { role: 'user', content: TEXT.repeat(8) },
    { role: 'assistant', content: [{ type: 'text', text: TEXT }] },
    { role: 'user', content: `question ${i}` },
  ],
});
const requests = [];
let size = 0;
for (let i = 0; size < 64 * 1024 * 1024; i++) {
  const r = { custom_id: `req-${i}`, params: params(i) };
  size += JSON.stringify(r).length;
  requests.push(r);
}
const body = Buffer.from(JSON.stringify({ requests }, null, 1));
const CHUNK = 64 * 1024;
const mb = body.length / 1e6;

const scan: number[] = [];
const parse: number[] = [];
for (let round = 0; round < 5; round++) {
  let t = performance.now();
  const s = new BatchScan();
  for (let at = 0; at < body.length; at += CHUNK) s.push(body.subarray(at, at + CHUNK));
  const r = s.end();
  scan.push(mb / ((performance.now() - t) / 1000));
  if (!r.readable || r.requests !== requests.length) throw new Error('scan disagrees');
  t = performance.now();
  JSON.parse(body.toString('utf8'));
  parse.push(mb / ((performance.now() - t) / 1000));
}
console.log(
  `${mb.toFixed(1)} MB, ${requests.length} requests: BatchScan ${median(scan).toFixed(0)} MB/s, JSON.parse ${median(parse).toFixed(0)} MB/s`,
);
