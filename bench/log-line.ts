/**
 * CPU per request log line: the process logger's native `info` path against pino's own
 * serializer, same object, both writing to /dev/null. `npx tsx bench/log-line.ts`
 * (docs/observability.md, Logs). A loop, so it shows the serializer's cost, not cache effects in a proxy.
 */
import pino from 'pino';
import { createProcessLogger } from '../src/lib/process-logger.ts';
import type { Logger } from '../src/lib/logger.ts';

const usage = {
  input: 412,
  output: 187,
  cacheCreation: 0,
  cacheCreation5m: null,
  cacheCreation1h: null,
  cacheRead: 128,
  webSearchRequests: 0,
  webFetchRequests: 0,
  serviceTier: 'standard',
  inferenceGeo: null,
  speed: null,
};
const line = () => ({
  id: '2b0c8a9e-4f7e-4c8e-9a51-3f0d6a2b9c11',
  method: 'POST',
  path: '/v1/messages',
  status: 200,
  model: 'claude-sonnet-4-5-20250929',
  key: 'abcdef0123456789',
  tag: undefined,
  stream: false,
  usage,
  usage_missing: undefined,
  partial: undefined,
  cost_usd: 0.004038,
  unpriced: undefined,
  latency_ms: 1.234,
  ttft_ms: 1.1,
  upstream_ms: 0.9,
  error_type: undefined,
  reserved_usd: undefined,
});
const N = 200_000;

function perLine(logger: Logger): number {
  for (let i = 0; i < N; i++) logger.info(line(), 'request'); // warm-up: JIT
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) logger.info(line(), 'request');
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / N;
}

const ours = perLine(createProcessLogger('info', '/dev/null').logger);
const theirs = perLine(pino({ level: 'info', base: { service: 'claude-meter' } }, pino.destination({ dest: '/dev/null', sync: false })));
console.log(`process logger ${ours.toFixed(2)} µs/line, pino ${theirs.toFixed(2)} µs/line (${N} lines each)`);
