/**
 * Three ways to build the request log line, the line only (no write): one JSON.stringify of
 * the fields object spliced into pino's frame (what src/lib/process-logger.ts does), a
 * hand-built string (concatenation, JSON.stringify per string field), and one JSON.stringify
 * of an object that also holds level, time, service and msg. Medians of 16 interleaved
 * rounds of 100,000 lines; pin it for steadier figures: `taskset -c 1 npx tsx bench/log-line-shapes.ts`.
 */
import { randomUUID } from 'node:crypto';
import { median } from './lib/stats.ts';

const usage = { input: 412, output: 187, cacheCreation: 0, cacheCreation5m: 0, cacheCreation1h: 0, cacheRead: 128, webSearchRequests: 0, webFetchRequests: 0, serviceTier: 'standard', inferenceGeo: null, speed: null };
const N = 100_000;
const record = () => ({
  id: randomUUID(), method: 'POST', path: '/v1/messages', status: 200, model: 'claude-sonnet-4-5-20250929' as string | null, keyId: 'abcdef0123456789', tag: '',
  stream: false, usage: { ...usage }, usageMissing: null as string | null, partial: false, costPicoUsd: 4_473_400_000, unpriced: false,
  latencyMs: 1.234, ttftMs: 0.91 as number | null, upstreamLatencyMs: 0.8 as number | null, errorType: null as string | null,
});
type R = ReturnType<typeof record>;

const fields = (r: R) => ({
  id: r.id, method: r.method, path: r.path, status: r.status, model: r.model, key: r.keyId, tag: r.tag || undefined, stream: r.stream, usage: r.usage,
  usage_missing: r.usageMissing ?? undefined, partial: r.partial || undefined, cost_usd: r.unpriced ? null : r.costPicoUsd / 1e12,
  unpriced: r.unpriced || undefined, latency_ms: r.latencyMs, ttft_ms: r.ttftMs, upstream_ms: r.upstreamLatencyMs, error_type: r.errorType ?? undefined,
});
const q = JSON.stringify;
const num = (n: number | null) => (n === null || !Number.isFinite(n) ? 'null' : String(n));
function handBuilt(r: R): string {
  let s = `"id":${q(r.id)},"method":${q(r.method)},"path":${q(r.path)},"status":${num(r.status)},"model":${r.model === null ? 'null' : q(r.model)},"key":${q(r.keyId)}`;
  if (r.tag) s += `,"tag":${q(r.tag)}`;
  s += `,"stream":${r.stream},"usage":${q(r.usage)}`;
  if (r.usageMissing != null) s += `,"usage_missing":${q(r.usageMissing)}`;
  if (r.partial) s += ',"partial":true';
  s += `,"cost_usd":${r.unpriced ? 'null' : num(r.costPicoUsd / 1e12)}`;
  if (r.unpriced) s += ',"unpriced":true';
  s += `,"latency_ms":${num(r.latencyMs)},"ttft_ms":${num(r.ttftMs)},"upstream_ms":${num(r.upstreamLatencyMs)}`;
  if (r.errorType != null) s += `,"error_type":${q(r.errorType)}`;
  return s;
}

const shapes: Record<string, (r: R) => string> = {
  'one JSON.stringify, spliced (shipped)': (r) =>
    `{"level":30,"time":${Date.now()},"service":"claude-meter",${JSON.stringify(fields(r)).slice(1, -1)},"msg":"request"}\n`,
  'hand-built string': (r) => `{"level":30,"time":${Date.now()},"service":"claude-meter",${handBuilt(r)},"msg":"request"}\n`,
  'one object with level, time, msg': (r) => `${JSON.stringify({ level: 30, time: Date.now(), service: 'claude-meter', ...fields(r), msg: 'request' })}\n`,
};

// The three must write the same line (time aside).
const sample = record();
const norm = (s: string) => JSON.stringify(JSON.parse(s.replace(/"time":\d+/, '"time":0')));
if (new Set(Object.values(shapes).map((f) => norm(f(sample)))).size !== 1) throw new Error('the shapes do not write the same line');

const rs = Array.from({ length: N }, record);
const names = Object.keys(shapes);
const times: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
for (let round = 0; round < 16; round++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(round + k) % names.length]!;
    const line = shapes[name]!;
    const t = performance.now();
    const out: string[] = [];
    for (const r of rs) out.push(line(r));
    if (out.join('').length === 0) throw new Error('empty');
    times[name]!.push(((performance.now() - t) * 1000) / N);
  }
}
for (const name of names) console.log(`${median(times[name]!).toFixed(2).padStart(6)} µs per line  ${name}`);
