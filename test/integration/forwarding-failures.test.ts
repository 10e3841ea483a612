/** Upstream failures: unreachable, silent, stalled mid-stream: the client gets a clear answer and the request is recorded. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startMockAnthropic, messageStream } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const SONNET = 'claude-sonnet-4-6';

test('an unreachable upstream gives 502 in Anthropic error JSON and is recorded', async (t) => {
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const { app, url } = await startProxy(t, { upstream: `http://127.0.0.1:${port}` });
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'k' },
    body: JSON.stringify({ model: SONNET, max_tokens: 5, messages: [] }),
  });
  assert.equal(res.status, 502);
  const body = (await res.json()) as { type: string; error: { type: string; message: string } };
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'api_error');
  assert.match(body.error.message, /unreachable/);
  await app.recorder.flush();
  const [r] = await app.store.recent(1);
  assert.equal(r?.status, 502);
  assert.equal(r?.usageMissing, 'upstream_unreachable');
  assert.equal(r?.model, SONNET);
});

test('an upstream that never answers gives 504 timeout_error after the configured timeout', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'hang' }));
  const { url } = await startProxy(t, { upstream: up.url, config: { upstream: { headers_timeout_ms: 200 } } });
  const res = await fetch(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: SONNET, max_tokens: 5, messages: [] }) });
  assert.equal(res.status, 504);
  const body = (await res.json()) as { error: { type: string } };
  assert.equal(body.error.type, 'timeout_error');
});

test('an upstream that stalls mid-stream is cut after body_timeout_ms; the client sees the cut and the usage so far is recorded as partial', async (t) => {
  const up = await startMockAnthropic(t);
  const stream = messageStream({ usage: { input_tokens: 321, output_tokens: 50 }, model: SONNET, text: 'a b c' });
  const first = stream.slice(0, stream.indexOf('\n\n') + 2);
  up.setScenario(() => ({
    kind: 'gated',
    headers: { 'content-type': 'text/event-stream' },
    first,
    rest: '',
    gate: new Promise<void>(() => {}),
  }));
  const { app, url } = await startProxy(t, { upstream: up.url, config: { upstream: { body_timeout_ms: 300 } } });
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    body: JSON.stringify({ model: SONNET, max_tokens: 5, stream: true, messages: [] }),
  });
  assert.equal(res.status, 200);
  await assert.rejects(res.text(), 'the client must see the stream cut, not a clean end');
  await waitFor('the record of the cut stream', () => app.recorder.stats().written > 0, 2_000);
  const [r] = await app.store.recent(1);
  assert.equal(r?.partial, true);
  assert.equal(r?.usage?.input, 321);
});
