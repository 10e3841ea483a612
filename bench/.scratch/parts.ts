import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/load.ts';
import { buildPricer } from '../../src/pricing/index.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { createProcessLogger } from '../../src/lib/process-logger.ts';
import { settle } from '../../src/meter/settle.ts';
import { UsageTap } from '../../src/usage/tap.ts';
import { inspect } from '../../src/http/request-body.ts';
import { identify } from '../../src/http/identify.ts';
import { upstreamRequestHeaders, downstreamResponseHeaders } from '../../src/upstream/headers.ts';
import { recordMetrics, modelLabel } from '../../src/metrics/record.ts';
import { encodeEvent } from '../../src/store/event-codec.ts';
import { Recorder } from '../../src/store/recorder.ts';
import { messageJson } from '../../test/helpers/mock-anthropic.ts';
import { messagesBody, HEADERS } from '../lib/request.ts';

const config = loadConfig({ file: null, env: {} });
const pricer = buildPricer(config);
const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
const logger = createProcessLogger('info', '/dev/null').logger;
const store = { kind: 'memory', writeBatch: () => Promise.resolve(), write: () => Promise.resolve() } as any;
const recorder = new Recorder({ store, logger: logger as any, journalMaxRecords: 100000, lingerMs: 0 });
const reqBody = Buffer.from(messagesBody(false));
const USAGE = { input_tokens: 412, output_tokens: 187, cache_creation_input_tokens: 0, cache_read_input_tokens: 128, service_tier: 'standard' };
const resBody = Buffer.from(messageJson({ usage: USAGE, model: 'claude-sonnet-4-5-20250929', text: 'x'.repeat(700), id: 'msg_1' }));
const reqHeaders = { ...Object.fromEntries(Object.entries(HEADERS).map(([k, v]) => [k.toLowerCase(), v])), host: '127.0.0.1:8080', connection: 'keep-alive', 'content-length': String(reqBody.length) };
const resHeaders = { 'content-type': 'application/json', 'content-length': String(resBody.length), 'request-id': 'req_1', 'anthropic-ratelimit-requests-limit': '4000', 'anthropic-ratelimit-requests-remaining': '3999', date: 'x', connection: 'keep-alive', 'keep-alive': 'timeout=5' };
const deps = { pricer, metrics, logger: logger as any, record: (r: any) => recorder.record(r), warnedModels: new Set<string>() };
let sink: any;
const facts = inspect(reqBody);
const outcome = { usage: { input: 412, output: 187, cacheCreation: 0, cacheCreation1h: 0, cacheRead: 128, cacheCreation5m: null, webSearchRequests: 0, webFetchRequests: 0, serviceTier: 'standard', inferenceGeo: null, speed: null }, model: 'claude-sonnet-4-5-20250929', missingReason: null, partial: false, errorType: null, stopReason: 'end_turn', messageId: 'msg_1' } as any;
const caller = identify(reqHeaders as any);
const ex = () => ({ id: randomUUID(), ts: Date.now(), method: 'POST', path: '/v1/messages', caller, facts, free: false, status: 200, outcome, latencyMs: 3.2, ttftMs: 2.9, upstreamLatencyMs: 1.1, betas: [], reservedPico: null });
const rec = settle(deps, ex());
const parts: Record<string, () => void> = {
  uuid: () => { sink = randomUUID(); },
  identify: () => { sink = identify(reqHeaders as any); },
  inspectReq: () => { sink = inspect(reqBody); },
  reqHeaders: () => { sink = upstreamRequestHeaders(reqHeaders as any, { upstreamHost: 'x:1', apiKey: null, identity: true }); },
  resHeaders: () => { sink = downstreamResponseHeaders(resHeaders as any); },
  tap: () => { const t = new UsageTap({ path: '/v1/messages', method: 'POST', requestModel: 'm', maxJsonBodyBytes: 1e7, maxSseEventBytes: 1e6 }); t.onResponseStart(200, resHeaders); t.onData(resBody); sink = t.finish('complete'); },
  price: () => { sink = pricer.price('claude-sonnet-4-5-20250929', outcome.usage, { at: Date.now(), betas: [] }); },
  metrics: () => { recordMetrics(metrics, rec, modelLabel(metrics, rec.model)); },
  logLine: () => { logger.info({ id: rec.id, method: rec.method, path: rec.path, status: rec.status, model: rec.model, key: rec.keyId, tag: undefined, stream: false, usage: rec.usage, cost_usd: 0.005, latency_ms: 3.2, ttft_ms: 2.9, upstream_ms: 1.1 }, 'request'); },
  recorderRecord: () => { recorder.record({ ...rec, id: randomUUID() }); },
  encodeEvent: () => { sink = encodeEvent(rec); },
  empty: () => {},
  stringifyLog: () => { sink = JSON.stringify({ id: rec.id, method: rec.method, path: rec.path, status: rec.status, model: rec.model, key: rec.keyId, tag: undefined, stream: false, usage: rec.usage, cost_usd: 0.005, latency_ms: 3.2, ttft_ms: 2.9, upstream_ms: 1.1 }); },
  settleAll: () => { sink = settle(deps, ex()); },
};
const N = 200_000;
for (let round = 0; round < 2; round++) {
  for (const [name, f] of Object.entries(parts)) {
    for (let i = 0; i < 20000; i++) {
      f();
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      f();
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setImmediate(r));
    const d = process.cpuUsage(t0);
    if (round === 1) console.log(name.padEnd(16), (((d.user + d.system) / N)).toFixed(2), 'µs');
  }
}
process.exit(0);
