const usage = { input: 412, output: 187, cacheCreation: 0, cacheCreation5m: null, cacheCreation1h: null, cacheRead: 128, webSearchRequests: 0, webFetchRequests: 0, serviceTier: 'standard', inferenceGeo: null, speed: null };
const obj = () => ({ id: '0b0d7a8e-1f1e-4a5b-9d8e-5f4c3b2a1a0f', method: 'POST', path: '/v1/messages', status: 200, model: 'claude-sonnet-4-5-20250929', key: 'a1b2c3d4e5f60718', tag: undefined, stream: false, usage, usage_missing: undefined, partial: undefined, cost_usd: 0.005061, unpriced: undefined, latency_ms: 3.211, ttft_ms: 2.905, upstream_ms: 1.234, error_type: undefined, reserved_usd: undefined });
const o = obj();
let sink: any;
function time(name: string, f: () => void) {
  for (let i = 0; i < 50000; i++) f();
  const N = 500000; const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f();
  console.log(name.padEnd(20), (Number(process.hrtime.bigint() - t0) / N / 1000).toFixed(3), 'µs');
}
for (let k = 0; k < 2; k++) {
time('build obj', () => { sink = obj(); });
time('stringify', () => { sink = JSON.stringify(o); });
time('stringify usage', () => { sink = JSON.stringify(usage); });
time('stringify no-num', () => { sink = JSON.stringify({ ...o, cost_usd: 1, latency_ms: 3, ttft_ms: 2, upstream_ms: 1 }); });
time('num->str x4', () => { sink = `${o.cost_usd}${o.latency_ms}${o.ttft_ms}${o.upstream_ms}`; });
time('Date.now', () => { sink = Date.now(); });
}
