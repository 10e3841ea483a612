import { encodeEvent } from '../../src/store/event-codec.ts';
const rec = { id: '0b0d7a8e-1f1e-4a5b-9d8e-5f4c3b2a1a0f', ts: 1764305400123, method: 'POST', path: '/v1/messages', model: 'claude-sonnet-4-5-20250929', keyId: 'a1b2c3d4e5f60718', tag: '', status: 200, stream: false, usage: { input: 412, output: 187, cacheCreation: 0, cacheCreation5m: null, cacheCreation1h: null, cacheRead: 128, webSearchRequests: 0, webFetchRequests: 0, serviceTier: 'standard', inferenceGeo: null, speed: null }, usageMissing: null, partial: false, costPicoUsd: 5061000000, unpriced: false, free: false, latencyMs: 3.211, ttftMs: 2.905, upstreamLatencyMs: 1.234, errorType: null, messageId: 'msg_bench_0000000000000001' } as any;
const recs = Array.from({ length: 64 }, (_, i) => ({ ...rec, id: rec.id.slice(0, -2) + String(i).padStart(2, '0'), latencyMs: 3 + i / 1000 }));
let sink: any;
function v1(r: any) { return JSON.stringify([r.id, r.ts, r.method, r.path, r.model, r.keyId, r.tag, r.status, r.stream ? 1 : 0, r.usage, r.usageMissing, r.partial ? 1 : 0, r.costPicoUsd, r.unpriced ? 1 : 0, r.free ? 1 : 0, r.latencyMs, r.ttftMs, r.upstreamLatencyMs, r.errorType, r.messageId]); }
function v2native(r: any) { const u = r.usage; return JSON.stringify([r.id, r.ts, r.method, r.path, r.model, r.keyId, r.tag, r.status, r.stream ? 1 : 0, u === null ? null : [u.input, u.output, u.cacheCreation, u.cacheCreation5m, u.cacheCreation1h, u.cacheRead, u.webSearchRequests, u.webFetchRequests, u.serviceTier, u.inferenceGeo, u.speed], r.usageMissing, r.partial ? 1 : 0, r.costPicoUsd, r.unpriced ? 1 : 0, r.free ? 1 : 0, r.latencyMs, r.ttftMs, r.upstreamLatencyMs, r.errorType, r.messageId]); }
function time(name: string, f: (r: any) => string) {
  for (let i = 0; i < 100000; i++) sink = f(recs[i & 63]);
  const N = 1000000; const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink = f(recs[i & 63]);
  console.log(name.padEnd(12), (Number(process.hrtime.bigint() - t0) / N / 1000).toFixed(3), 'µs', sink.length, 'chars');
}
for (let k = 0; k < 2; k++) { time('v1', v1); time('v2native', v2native); time('v2hand', (r) => encodeEvent(r)[1]); }
