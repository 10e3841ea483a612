/**
 * A request whose model the proxy cannot read (a body that is not plain JSON) but the upstream
 * can: its reservation goes to the `unknown` model, and its settle must still reach the budgets
 * of the model the response names, or a per_model or match.model cap is exceeded unseen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { usdToPico } from '../../src/core/money.ts';

const SONNET = 'claude-sonnet-4-5';
const SONNET_ID = 'claude-sonnet-4-5-20250929'; // per_model instances are canonical ids
// 100k input at $3/M and 10k output at $15/M.
const COST = usdToPico(0.45);

test('a request admitted as the unknown model settles on the budgets of the model the response names', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', model: SONNET_ID, usage: { input_tokens: 100_000, output_tokens: 10_000 } }));
  const budgets = [
    budget({ name: 'models', scope: 'per_model', limit_usd: 1 }),
    budget({ name: 'sonnet', match: { key: [], tag: [], model: [SONNET], path: [] }, limit_usd: 1 }),
  ];
  const { app, url } = await startProxy(t, { upstream: up.url, config: { budgets } });
  const json = JSON.stringify({ model: SONNET, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
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
    const [s] = await app.gate.ledger.state([app.gate.catalog.instanceRef(b, instance, Date.now())], Date.now());
    return s?.spentPico ?? 0;
  };

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
