import { Worker } from 'node:worker_threads';
import { encodeEvent } from '../../src/store/event-codec.ts';
const w = new Worker('const {parentPort}=require("node:worker_threads");parentPort.on("message",(m)=>{parentPort.postMessage(m.length)})', { eval: true });
const rec = { id: '0b0d7a8e-1f1e-4a5b-9d8e-5f4c3b2a1a0f', ts: 1764305400123, method: 'POST', path: '/v1/messages', model: 'claude-sonnet-4-5-20250929', keyId: 'a1b2c3d4e5f60718', tag: '', status: 200, stream: false, usage: { input: 412, output: 187, cacheCreation: 0, cacheCreation1h: 0, cacheRead: 128, webSearchRequests: 0, serviceTier: 'standard' }, usageMissing: null, partial: false, costPicoUsd: 5061000000, unpriced: false, free: false, latencyMs: 3.211, ttftMs: 2.9, upstreamLatencyMs: 1.234, errorType: null, messageId: 'msg_bench_0000000000000001' } as any;
const batch = Array.from({ length: 33 }, (_, i) => ({ ...rec, id: rec.id.slice(0, -2) + String(i).padStart(2, '0') }));
async function run(name: string, f: () => string | object) {
  const n = 3000;
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) { const p = new Promise((r) => w.once('message', r)); w.postMessage(f()); await p; }
  const d = process.cpuUsage(t0);
  console.log(name, ((d.user + d.system) / n).toFixed(1), 'µs per batch of 33 (both threads)');
}
const s = JSON.stringify(batch);
for (let k = 0; k < 2; k++) {
  await run('stringify records', () => JSON.stringify(batch));
  await run('encodeEvent join', () => batch.map((r) => encodeEvent(r)[1]).join('\n'));
  await run('prebuilt string', () => s);
  await run('structured clone', () => batch);
}
const t0 = process.cpuUsage(); for (let i = 0; i < 30000; i++) JSON.stringify(batch); const d = process.cpuUsage(t0); console.log('stringify alone', ((d.user + d.system) / 30000).toFixed(1));
const t1 = process.cpuUsage(); for (let i = 0; i < 30000; i++) batch.map((r) => encodeEvent(r)[1]).join('\n'); const d1 = process.cpuUsage(t1); console.log('encode alone', ((d1.user + d1.system) / 30000).toFixed(1));
await w.terminate();
