/**
 * The upstream answers 529 overloaded_error: the client gets it as the upstream sent it (status,
 * body bytes, request-id and x-should-retry), the SDK's own retry rules apply (it retries a 529),
 * every attempt is recorded with its error type and no cost, and a 529 spends nothing: only
 * an attempt that succeeds is billed, once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage, type Scenario } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { bill, billOf, globalBudget, SONNET, storeTotals } from '../helpers/ledger.ts';

const USAGE: MockUsage = { input_tokens: 2000, output_tokens: 150 };
// x-should-retry is what the API sends with a 529; retry-after-ms keeps the SDK's backoff short here.
const OVERLOADED: Scenario = {
  kind: 'error',
  status: 529,
  type: 'overloaded_error',
  message: 'Overloaded',
  headers: { 'x-should-retry': 'true', 'retry-after-ms': '5' },
};
const params = { model: SONNET, max_tokens: 200, messages: [{ role: 'user' as const, content: 'hi' }] };

async function proxy(t: Parameters<typeof startProxy>[0], upstream: string) {
  return startProxy(t, { upstream, config: { budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })] } });
}

test('529 on every attempt: passed through as sent, the SDK retried twice, every attempt recorded with no cost, no spend', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => OVERLOADED);
  const { app, url } = await proxy(t, up.url);

  const raw = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'sk-ant-fault', 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  assert.equal(raw.status, 529);
  assert.equal(raw.headers.get('x-should-retry'), 'true');
  assert.equal(raw.headers.get('request-id'), 'req_mock_1', "the upstream's request id, not one of ours");
  assert.deepEqual(Buffer.from(await raw.arrayBuffer()), up.sent[0], 'the body byte for byte');

  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 2 });
  const err = await sdk.messages.create(params).catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.APIError, String(err));
  assert.equal(err.status, 529);
  assert.equal((err.error as { error: { type: string } }).error.type, 'overloaded_error');
  assert.equal(up.received.length, 4, 'the fetch, and the SDK: one attempt and two retries');

  await app.flush();
  const records = await app.store.recent(10);
  assert.equal(records.length, 4, 'every attempt recorded');
  for (const r of records) {
    assert.equal(r.status, 529);
    assert.equal(r.errorType, 'overloaded_error');
    assert.equal(r.usageMissing, 'error_status');
    assert.equal(r.costPicoUsd, 0);
  }
  assert.deepEqual(billOf(await storeTotals(app.store)), bill([]));
  assert.deepEqual(await globalBudget(app, 'day'), { spentPico: 0, reservedPico: 0 });
});

test('529, 529, then 200: the SDK gets the message; the 529s are recorded with no cost and only the answer is billed', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => (up.received.length <= 2 ? OVERLOADED : { kind: 'message', usage: USAGE }));
  const { app, url } = await proxy(t, up.url);
  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 2 });
  const msg = await sdk.messages.create(params);
  assert.equal(msg.usage.input_tokens, 2000);
  assert.equal(up.received.length, 3);

  await app.flush();
  const records = (await app.store.recent(10)).reverse();
  assert.deepEqual(
    records.map((r) => [r.status, r.errorType, r.costPicoUsd > 0]),
    [
      [529, 'overloaded_error', false],
      [529, 'overloaded_error', false],
      [200, null, true],
    ],
  );
  const billed = bill(up.billed);
  assert.equal(up.billed.length, 1);
  assert.deepEqual(billOf(await storeTotals(app.store)), billed);
  assert.deepEqual(await globalBudget(app, 'day'), { spentPico: Number(billed.costPicoUsd), reservedPico: 0 });
});
