/**
 * The dialect's rewrite hooks in the pipeline and the forwarder (core/dialect.ts RequestRewrite,
 * ResponseFilter), with a test dialect: the anthropic one plus a rewrite that adds a member to a
 * metered body and a filter that drops every `message_delta` event of a streamed answer. The
 * upstream must receive the rewritten body, the client the filtered bytes, and the usage tap the
 * upstream's bytes (the usage lives in the dropped event). Real sockets, the real pipeline.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startMockAnthropic, type MockUpstream } from '../helpers/mock-anthropic.ts';
import { anthropic } from '../../src/api/anthropic/index.ts';
import type { Dialect, ResponseFilter } from '../../src/core/dialect.ts';
import { parseTarget } from '../../src/core/target.ts';
import { DEFAULTS } from '../../src/config/defaults.ts';
import { forwarderOptions } from '../../src/compose/upstreams.ts';
import { handleProxied, type PipelineDeps } from '../../src/http/pipeline.ts';
import { BodyBuffers } from '../../src/http/request-body.ts';
import type { Upstream } from '../../src/http/upstreams.ts';
import { MemoryBatchStore } from '../../src/store/memory-batch-store.ts';
import { InFlight } from '../../src/lib/in-flight.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { listBiller } from '../../src/pricing/billing.ts';
import { buildPricer } from '../../src/pricing/build.ts';
import type { RequestRecord } from '../../src/store/types.ts';
import { PoolForwarder } from '../../src/upstream/forward.ts';

/** Drops `message_delta` events, holding back an incomplete one between chunks (as the port allows). */
function dropDeltas(): ResponseFilter {
  let held = '';
  const pass = (text: string): Buffer => {
    const events = text.split(/(?<=\n\n)/);
    held = events.at(-1)?.endsWith('\n\n') === true ? '' : (events.pop() ?? '');
    return Buffer.from(events.filter((e) => !e.startsWith('event: message_delta')).join(''));
  };
  return { push: (chunk) => pass(held + chunk.toString('utf8')), end: () => Buffer.from(held) };
}

/** What the test dialect was asked, for the assertions. */
interface Calls {
  rewrites: string[];
  filters: (string | undefined)[];
}

function rewritingDialect(calls: Calls): Dialect {
  return {
    ...anthropic,
    name: 'rewriting',
    rewrite(route, path, body, readFacts) {
      calls.rewrites.push(`${route} ${path} ${readFacts()?.model}`);
      if (route !== 'metered') return null;
      const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      return {
        body: Buffer.from(JSON.stringify({ ...json, metadata: { user_id: 'rewritten' } })),
        reason: 'test',
        responseFilter(contentType) {
          calls.filters.push(contentType);
          return contentType?.startsWith('text/event-stream') === true ? dropDeltas() : null;
        },
      };
    },
  };
}

/** The real pipeline behind a real server, with one upstream whose dialect is `dialect`. */
async function serveWith(t: TestContext, up: MockUpstream, dialect: Dialect) {
  const records: RequestRecord[] = [];
  const forwarder = new PoolForwarder(forwarderOptions({ ...DEFAULTS.upstream, url: up.url }));
  t.after(() => forwarder.close());
  const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
  const upstream: Upstream = {
    name: 'rw',
    route: null,
    selectByHeader: false,
    api: 'anthropic',
    shownUrl: up.url,
    dialect,
    alternate: null,
    forwarder,
    inFlight: new InFlight(),
    access: { injected: false, accepted: null },
    biller: listBiller(pricer),
    usageSemantics: () => ({ configured: 'auto', semantics: 'openai', proven: false, evidence: null }),
    ownCredential: () => null,
  };
  const l = DEFAULTS.limits;
  const deps: PipelineDeps = {
    clock: systemClock,
    logger: silentLogger,
    recorder: { record: (r) => records.push(r) },
    metrics: createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false }),
    budgets: null,
    warnedModels: new Set(),
    exchanges: new InFlight(),
    batches: { store: new MemoryBatchStore(), metering: new InFlight() },
    bodies: new BodyBuffers(),
    spools: new BodyBuffers(),
    settings: () => ({
      pricer,
      upstreams: { default: upstream, routed: [], byName: new Map([['rw', upstream]]) },
      limits: {
        maxJsonBodyBytes: l.max_json_body_bytes,
        maxSseEventBytes: l.max_sse_event_bytes,
        maxDecompressedBytes: l.max_decompressed_bytes,
        maxDecompressionRatio: l.max_decompression_ratio,
        maxRequestBodyBytes: l.max_request_body_bytes,
        maxBufferedRequestBytes: l.max_buffered_request_bytes,
        maxBatchBodyBytes: l.max_batch_body_bytes,
        maxSpooledBatchBytes: l.max_spooled_batch_bytes,
      },
      batches: { publicUrl: null },
    }),
  };
  const server = http.createServer((req, res) => {
    const target = parseTarget(req.url ?? '/');
    assert.equal(target.kind, 'path');
    void handleProxied(deps, req, res, target);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  /** Waits for the exchange's record, an event: the last thing an exchange does before it is no longer in flight. */
  const settled = () => deps.exchanges.idle().then(() => records);
  return { url, records, settled };
}

const USAGE = { input_tokens: 120, output_tokens: 42 };
const request = (stream: boolean) => JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 64, stream, messages: [] });

test('a rewritten stream: the upstream gets the new body, the client the filtered bytes, the tap the upstream’s', async (t) => {
  const up = await startMockAnthropic(t);
  // Small chunks: events are cut across chunks, so the filter must hold back.
  up.setScenario(() => ({ kind: 'message', usage: USAGE, chunkSize: 7 }));
  const calls: Calls = { rewrites: [], filters: [] };
  const { url, settled } = await serveWith(t, up, rewritingDialect(calls));
  const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: request(true) });
  assert.equal(res.status, 200);
  const got = await res.text();

  const sent = up.received[0];
  assert.ok(sent);
  assert.deepEqual(JSON.parse(sent.body.toString('utf8')), { ...JSON.parse(request(true)), metadata: { user_id: 'rewritten' } });
  assert.equal(sent.headers['content-length'], String(sent.body.length), 'content-length recomputed for the new body');
  assert.deepEqual(calls, { rewrites: ['metered /v1/messages claude-haiku-4-5'], filters: ['text/event-stream; charset=utf-8'] });

  const upstreamBytes = up.sent[0]?.toString('utf8') ?? '';
  assert.match(upstreamBytes, /event: message_delta/);
  const expected = upstreamBytes
    .split(/(?<=\n\n)/)
    .filter((e) => !e.startsWith('event: message_delta'))
    .join('');
  assert.equal(got, expected, 'exactly the upstream bytes less the filtered events');
  assert.equal(res.headers.get('content-length'), null);

  const [r] = await settled();
  assert.equal(r?.usage?.output, 42, 'the tap read message_delta from the upstream’s bytes, though the client never saw it');
  assert.equal(r?.usage?.input, 120);
  assert.equal(r?.partial, false);
});

test('a rewrite whose filter declines (JSON), an error answer, and a route the dialect leaves alone pass byte-identical', async (t) => {
  const up = await startMockAnthropic(t);
  const calls: Calls = { rewrites: [], filters: [] };
  const { url, settled } = await serveWith(t, up, rewritingDialect(calls));
  const post = (path: string, body: string) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const json = await post('/v1/messages', request(false));
  assert.equal(await json.text(), up.sent[0]?.toString('utf8'));
  assert.equal(json.headers.get('content-length'), String(up.sent[0]?.length), 'no filter: the framing is the upstream’s');

  up.setScenario(() => ({ kind: 'error', status: 429, type: 'rate_limit_error' }));
  const refused = await post('/v1/messages', request(true));
  assert.equal(refused.status, 429);
  assert.equal(await refused.text(), up.sent[1]?.toString('utf8'));

  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const count = request(false);
  await (await post('/v1/messages/count_tokens', count)).arrayBuffer();
  assert.equal(up.received[2]?.body.toString('utf8'), count, 'the dialect declined: the body as sent');

  assert.deepEqual(calls.filters, ['application/json'], 'asked once for the JSON answer; never for the 429');
  assert.deepEqual(calls.rewrites, [
    'metered /v1/messages claude-haiku-4-5',
    'metered /v1/messages claude-haiku-4-5',
    'free /v1/messages/count_tokens claude-haiku-4-5',
  ]);
  assert.equal((await settled()).length, 3);
});

test('without a rewrite hook the body forwarded is the body read, byte for byte', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await serveWith(t, up, anthropic);
  const body = `{"model":"claude-haiku-4-5",  "max_tokens":1,"messages":[]}`;
  await (await fetch(`${url}/v1/messages`, { method: 'POST', body })).arrayBuffer();
  assert.equal(up.received[0]?.body.toString('utf8'), body);
});
