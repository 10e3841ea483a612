/**
 * A budget instance made for a request the upstream refuses (a bad key, an unknown model) goes
 * with its reservation: per_key, per_tag and per_model budgets keep no state, listing or gauge
 * for callers the upstream never served, and the instances of real callers are untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { hashKey } from '../../src/http/identify.ts';

const GOOD = 'sk-ant-good';
const HAIKU = 'claude-haiku-4-5';
const HAIKU_ID = 'claude-haiku-4-5-20251001'; // per_model instances are canonical ids

test('instances made for refused requests are dropped with their reservations and gauges; served ones stay', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario((r) => {
    if (r.headers['x-api-key'] !== GOOD) return { kind: 'error', status: 401, type: 'authentication_error' };
    if (!String(JSON.parse(r.body.toString()).model).startsWith('claude-')) return { kind: 'error', status: 404, type: 'not_found_error' };
    return { kind: 'message', usage: { input_tokens: 100, output_tokens: 10 } };
  });
  const budgets = [
    budget({ name: 'all', limit_usd: 100 }),
    budget({ name: 'keys', scope: 'per_key', limit_usd: 1 }),
    budget({ name: 'tags', scope: 'per_tag', limit_usd: 1 }),
    budget({ name: 'models', scope: 'per_model', limit_usd: 1 }),
  ];
  const { app, url } = await startProxy(t, { upstream: up.url, config: { budgets, metrics: { key_label: true, tag_label: true } } });
  const send = (key: string, tag: string, model: string) =>
    fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'x-meter-tag': tag, 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
    }).then((r) => r.status);

  assert.equal(await send(GOOD, 'team-a', HAIKU), 200);
  const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => send(`sk-bad-${i}`, `stray-${i}`, `made-up-${i}`)));
  assert.deepEqual(new Set(statuses), new Set([401]));
  assert.equal(await send(GOOD, 'team-a', `made-up-model-${'x'.repeat(300)}`), 404);
  await app.flush();

  const now = Date.now();
  const listed = async (name: string) => {
    const b = budgets.find((x) => x.name === name)!;
    return app.gate.ledger.instances(name, app.gate.catalog.instanceRef(b, '*', now).window.id);
  };
  assert.deepEqual(await listed('keys'), [hashKey(GOOD)]);
  assert.deepEqual(await listed('tags'), ['team-a']);
  assert.deepEqual(await listed('models'), [HAIKU_ID]);
  assert.deepEqual(await listed('all'), ['*']);
  const keyRef = app.gate.catalog.instanceRef(budgets[1]!, hashKey(GOOD), now);
  const [good] = await app.gate.ledger.state([keyRef], now);
  assert.equal(good?.reservedPico, 0, 'every reservation released');
  assert.ok((good?.spentPico ?? 0) > 0);

  const metrics = await (await fetch(`${url}/metrics`)).text();
  const instances = new Set([...metrics.matchAll(/budget_instance="([^"]*)"/g)].map((m) => m[1]));
  assert.deepEqual([...instances].sort(), ['*', HAIKU_ID, hashKey(GOOD), 'team-a'].sort(), 'no gauge for a refused caller');
  assert.doesNotMatch(metrics, /stray-|sk-bad|made-up/);
  assert.equal(app.metrics.labels.budgetInstance.size, 4, 'their places in the label given back');
});
