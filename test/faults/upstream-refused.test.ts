/**
 * Nothing listens at the upstream's address: the client gets a 502 in the Anthropic error
 * shape (the SDK retries it as a 5xx, and fails with it), every attempt is recorded as an
 * upstream that could not be reached, and nothing is spent or left reserved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { bill, billOf, globalBudget, SONNET, storeTotals } from '../helpers/ledger.ts';

/** A port that was free a moment ago: connecting to it is refused. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('upstream refuses connections: 502 api_error in the dialect shape, each attempt recorded as unreachable, no spend', async (t) => {
  const { app, url } = await startProxy(t, {
    upstream: `http://127.0.0.1:${await closedPort()}`,
    config: { budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })] },
  });
  const body = JSON.stringify({ model: SONNET, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'sk-ant-fault', 'content-type': 'application/json' },
    body,
  });
  assert.equal(res.status, 502);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const requestId = res.headers.get('request-id');
  assert.match(requestId ?? '', /^req_meter_/);
  const error = (await res.json()) as { type: string; error: { type: string; message: string }; request_id: string };
  assert.deepEqual(
    { ...error, error: { ...error.error, message: '' } },
    { type: 'error', error: { type: 'api_error', message: '' }, request_id: requestId },
  );
  assert.match(error.error.message, /unreachable \(ECONNREFUSED\)/);

  // The SDK retries a 5xx (once here), then fails with what the proxy answered.
  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 1 });
  const err = await sdk.messages
    .create({ model: SONNET, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.InternalServerError, String(err));
  assert.equal(err.status, 502);
  assert.equal((err.error as { error: { type: string } }).error.type, 'api_error');

  await app.flush();
  const records = await app.store.recent(10);
  assert.equal(records.length, 3, 'the fetch and both SDK attempts');
  for (const r of records) {
    assert.equal(r.status, 502);
    assert.equal(r.usageMissing, 'upstream_unreachable');
    assert.equal(r.usage, null);
    assert.equal(r.costPicoUsd, 0);
    assert.equal(r.model, SONNET);
  }
  const totals = await storeTotals(app.store);
  assert.equal(totals.requests, 3);
  assert.deepEqual(billOf(totals), bill([]), 'nothing billed, nothing counted');
  assert.deepEqual(await globalBudget(app, 'day'), { spentPico: 0, reservedPico: 0 }, 'no spend, no reservation left');
});
