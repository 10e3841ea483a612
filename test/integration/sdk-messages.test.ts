/**
 * The official @anthropic-ai/sdk talks to claude-meter, which talks to a mock upstream
 * speaking the real wire format. What the SDK receives must equal what the upstream
 * sent, and the store must hold exactly the upstream's usage at the right price.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { waitFor } from '../helpers/wait.ts';
import type { RequestRecord } from '../../src/store/types.ts';

const SONNET = 'claude-sonnet-4-6'; // $3 in, $15 out, $3.75 5m write, $6 1h write, $0.30 read per MTok

async function lastRecords(app: { recorder: { flush(): Promise<void> }; store: { recent(n: number): Promise<RequestRecord[]> } }, n = 1) {
  await app.recorder.flush();
  return app.store.recent(n);
}

function client(url: string, extra: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}) {
  return new Anthropic({ apiKey: 'sk-ant-test-key-1', baseURL: url, maxRetries: 0, ...extra });
}

test('messages.create (JSON): SDK gets the upstream body, store gets exact usage and cost', async (t) => {
  const up = await startMockAnthropic(t);
  const usage: MockUsage = { input_tokens: 1000, output_tokens: 500 };
  up.setScenario(() => ({ kind: 'message', usage, text: 'JSON reply' }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const msg = await client(url).messages.create({ model: SONNET, max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(msg.usage.input_tokens, 1000);
  assert.equal(msg.usage.output_tokens, 500);
  assert.deepEqual(msg.content, [{ type: 'text', text: 'JSON reply' }]);
  const [r] = await lastRecords(app);
  assert.ok(r);
  assert.equal(r.model, SONNET);
  assert.equal(r.usage?.input, 1000);
  assert.equal(r.usage?.output, 500);
  // 1000 × $3/MTok + 500 × $15/MTok = $0.0105 = 10,500,000,000 pico-USD
  assert.equal(r.costPicoUsd, 10_500_000_000);
  assert.equal(r.status, 200);
  assert.equal(r.partial, false);
  assert.equal(r.usageMissing, null);
  assert.notEqual(r.keyId, 'sk-ant-test-key-1');
  assert.match(r.keyId, /^[0-9a-f]{16}$/);
});

test('messages.create stream:true: bytes are identical, usage from message_start + cumulative message_delta', async (t) => {
  const up = await startMockAnthropic(t);
  const usage: MockUsage = {
    input_tokens: 20,
    output_tokens: 300,
    cache_creation_input_tokens: 3000,
    cache_read_input_tokens: 10_000,
    cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
  };
  up.setScenario(() => ({ kind: 'message', usage, pings: 3, chunkSize: 7 }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const resp = await client(url)
    .messages.create({ model: SONNET, max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'hi' }] })
    .asResponse();
  const bytes = Buffer.from(await resp.arrayBuffer());
  assert.equal(resp.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.ok(up.sent[0]);
  assert.ok(bytes.equals(up.sent[0]), 'SSE bytes through the proxy equal the upstream bytes');
  const [r] = await lastRecords(app);
  assert.ok(r?.usage);
  assert.equal(r.usage.input, 20);
  assert.equal(r.usage.output, 300);
  assert.equal(r.usage.cacheCreation, 3000);
  assert.equal(r.usage.cacheCreation5m, 1000);
  assert.equal(r.usage.cacheCreation1h, 2000);
  assert.equal(r.usage.cacheRead, 10_000);
  // 20×3 + 1000×3.75 + 2000×6 + 10000×0.30 + 300×15 = 60 + 3750 + 12000 + 3000 + 4500 = 23,310 µ$ = 23,310,000,000 p$
  assert.equal(r.costPicoUsd, 23_310_000_000);
  assert.equal(r.stream, true);
  assert.ok(r.ttftMs !== null && r.ttftMs >= 0);
});

test('messages.stream(): SDK accumulates the same usage the store records', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 42, output_tokens: 77, server_tool_use: { web_search_requests: 2 } } }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const stream = client(url).messages.stream({ model: SONNET, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
  const final = await stream.finalMessage();
  assert.equal(final.usage.output_tokens, 77);
  assert.equal(final.usage.input_tokens, 42);
  const [r] = await lastRecords(app);
  assert.equal(r?.usage?.output, 77);
  assert.equal(r?.usage?.webSearchRequests, 2);
  // 42×3 + 77×15 = 126 + 1155 = 1281 µ$, + 2 searches × $0.01 = 20,000 µ$
  assert.equal(r?.costPicoUsd, 21_281_000_000);
});

test('gzip-encoded responses are metered and reach the client unchanged', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 11, output_tokens: 22 }, gzip: true }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  for (const [i, stream] of [false, true].entries()) {
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'accept-encoding': 'gzip' },
      body: JSON.stringify({ model: SONNET, max_tokens: 10, stream, messages: [] }),
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    // The client can hold the whole body before the meter has gunzipped its copy: wait for the record.
    let records: RequestRecord[] = [];
    await waitFor('the record', async () => (records = await lastRecords(app, i + 1)).length >= i + 1, 2_000);
    const [r] = records;
    assert.equal(r?.usage?.input, 11, `stream=${stream}`);
    assert.equal(r?.usage?.output, 22, `stream=${stream}`);
  }
});

test('count_tokens is forwarded and recorded as a free request', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'raw', status: 200, headers: { 'content-type': 'application/json' }, chunks: ['{"input_tokens":1234}'] }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const r1 = await client(url).messages.countTokens({ model: SONNET, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r1.input_tokens, 1234);
  const [r] = await lastRecords(app);
  assert.equal(r?.free, true);
  assert.equal(r?.costPicoUsd, 0);
  assert.equal(r?.usageMissing, null);
  assert.equal(up.received[0]?.url, '/v1/messages/count_tokens');
});

for (const [status, type, Cls] of [
  [400, 'invalid_request_error', Anthropic.BadRequestError],
  [401, 'authentication_error', Anthropic.AuthenticationError],
  [429, 'rate_limit_error', Anthropic.RateLimitError],
  [500, 'api_error', Anthropic.InternalServerError],
  [529, 'overloaded_error', Anthropic.InternalServerError],
] as const) {
  test(`upstream ${status} ${type} reaches the SDK as ${Cls.name} and is recorded without usage`, async (t) => {
    const up = await startMockAnthropic(t);
    up.setScenario(() => ({ kind: 'error', status, type, message: `mock ${type}`, headers: { 'retry-after': '7' } }));
    const { app, url } = await startProxy(t, { upstream: up.url });
    const err = await client(url)
      .messages.create({ model: SONNET, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof Cls, `got ${String(err)}`);
    assert.equal((err as InstanceType<typeof Anthropic.APIError>).status, status);
    assert.equal((err as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after'), '7');
    const [r] = await lastRecords(app);
    assert.equal(r?.status, status);
    assert.equal(r?.usage, null);
    assert.equal(r?.usageMissing, 'error_status');
    assert.equal(r?.errorType, type);
    assert.equal(r?.model, SONNET);
  });
}

test('an error event mid-stream reaches the SDK as an APIError and the usage so far is recorded as partial', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'stream-error', usage: { input_tokens: 500, output_tokens: 40 } }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const stream = client(url).messages.stream({ model: SONNET, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
  const err = await stream.finalMessage().catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.APIError, `got ${String(err)}`);
  const [r] = await lastRecords(app);
  assert.equal(r?.partial, true);
  assert.equal(r?.errorType, 'overloaded_error');
  assert.equal(r?.usage?.input, 500);
  assert.ok((r?.costPicoUsd ?? 0) > 0, 'partial usage is billed, not $0');
});
