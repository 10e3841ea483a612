/**
 * A request whose model the proxy cannot read (a body that is not plain JSON) but the upstream
 * can: its reservation goes to the `unknown` model, and its settle must still reach the budgets
 * of the model the response names, or a per_model or match.model cap is exceeded unseen.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import type { BudgetConfig } from '../../src/budget/types.ts';
import { usdToPico } from '../../src/core/money.ts';

const SONNET = 'claude-sonnet-4-5';
const SONNET_ID = 'claude-sonnet-4-5-20250929'; // per_model instances are canonical ids
// 100k input at $3/M and 10k output at $15/M.
const COST = usdToPico(0.45);

const JSON_BODY = JSON.stringify({ model: SONNET, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });

/** A proxy with these budgets before a mock that bills every answer as Sonnet at COST; `send` waits for the record and the settle. */
async function setup(t: TestContext, budgets: BudgetConfig[]) {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', model: SONNET_ID, usage: { input_tokens: 100_000, output_tokens: 10_000 } }));
  const { app, url } = await startProxy(t, { upstream: up.url, config: { budgets } });
  const send = async (body: string) => {
    const r = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-ant-k', 'content-type': 'application/json' },
      body,
    });
    await r.arrayBuffer();
    await app.flush();
    return r.status;
  };
  const spent = async (name: string, instance: string) => {
    const b = budgets.find((x) => x.name === name)!;
    const [st] = await app.gate.ledger.state([app.gate.catalog.instanceRef(b, instance, Date.now())], Date.now());
    return st?.spentPico ?? 0;
  };
  return { up, app, url, send, spent };
}

test('a request admitted as the unknown model settles on the budgets of the model the response names', async (t) => {
  const { send, spent } = await setup(t, [
    budget({ name: 'models', scope: 'per_model', limit_usd: 1 }),
    budget({ name: 'sonnet', match: { key: [], tag: [], model: [SONNET], path: [], upstream: [] }, limit_usd: 1 }),
  ]);
  const json = JSON_BODY;

  assert.equal(await send(json), 200);
  assert.equal(await send(json), 200);
  assert.equal(await spent('models', SONNET_ID), 2 * COST);

  assert.equal(await send(`\ufeff${json}`), 200, 'a byte order mark: the model is read, and the cap still had room');
  assert.equal(await spent('models', SONNET_ID), 3 * COST);
  assert.equal(await spent('sonnet', '*'), 3 * COST);

  assert.equal(await send(`${json}x`), 200, 'unreadable: admitted as the unknown model');
  assert.equal(await spent('models', SONNET_ID), 4 * COST, 'the response model’s instance counts it');
  assert.equal(await spent('sonnet', '*'), 4 * COST, 'so does the budget whose match.model names it');
  assert.equal(await spent('models', 'unknown'), COST, 'the instance that held its reservation too');

  assert.equal(await send(json), 429, 'over the cap: the next request of the model is refused');
});

test('with only a match.model budget (nothing matches an unread model at admission), the response’s model still counts', async (t) => {
  const { send, spent: spentOn } = await setup(t, [
    budget({ name: 'sonnet', match: { key: [], tag: [], model: [SONNET], path: [], upstream: [] }, limit_usd: 1 }),
  ]);
  const spent = () => spentOn('sonnet', '*');
  const json = JSON_BODY;

  assert.equal(await send(`${json}x`), 200, 'unreadable, and no budget matches an unknown model: forwarded');
  assert.equal(await spent(), COST, 'the budget naming the billed model counts it');
  assert.equal(await send(`${json}x`), 200);
  assert.equal(await send(`${json}x`), 200, 'still under $1 before it: admitted (nothing is reserved for it)');
  assert.equal(await spent(), 3 * COST);
  assert.equal(await send(json), 429, 'over the cap: a readable request of the model is refused');
});

test('a body naming two models is refused with a 400 before anything is forwarded while budgets apply', async (t) => {
  const { up, app, url } = await setup(t, [
    budget({ name: 'sonnet', match: { key: [], tag: [], model: [SONNET], path: [], upstream: [] }, limit_usd: 1 }),
  ]);
  const r = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'sk-ant-k', 'content-type': 'application/json' },
    body: `{"model":"${SONNET}","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"model":"claude-opus-4-1"}`,
  });
  assert.equal(r.status, 400);
  const body = (await r.json()) as { type: string; error: { type: string; message: string } };
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(body.error.message, /names `model` more than once/);
  assert.equal(up.received.length, 0, 'nothing reached the upstream');
  await app.flush();
  const [rec] = await app.store.recent(1);
  assert.equal(rec?.usageMissing, 'ambiguous_request');
  assert.equal(rec?.status, 400);
});
