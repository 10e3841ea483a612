/**
 * Start-up on a Redis that cannot be reached: the proxy serves and journals as in an outage,
 * budgets follow on_store_error, and once Redis comes up every record reaches it exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { freePort, startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { waitFor } from '../helpers/wait.ts';

const MODEL = 'claude-sonnet-4-6'; // $3 / $15 per MTok
const RAW_KEY = 'sk-ant-api03-raw-key-must-not-reach-redis';

test('Redis unreachable at start-up: the proxy starts and serves, journals every record, budgets follow on_store_error; once Redis comes up every record reaches it exactly once', async (t) => {
  const port = await freePort(); // nothing listens there yet
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 100 } }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: {
      store: { redis: { url: `redis://127.0.0.1:${port}`, key_prefix: 'cm' } },
      budgets: [
        budget({ name: 'org', limit_usd: 100, on_store_error: 'allow' }),
        budget({
          name: 'strict',
          match: { key: [], tag: ['strict'], model: [], path: [], upstream: [] },
          limit_usd: 100,
          on_store_error: 'deny',
        }),
      ],
    },
  });
  const connect = await app.ready();
  assert.equal(connect?.up, false, 'listening although Redis is not there');
  assert.match((connect as { err: string | null }).err ?? '', /ECONNREFUSED/);
  const client = new Anthropic({ apiKey: RAW_KEY, baseURL: url, maxRetries: 0 });
  const send = (n: number) =>
    Promise.all(
      Array.from({ length: n }, () => client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })),
    );
  const strict = () =>
    fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': RAW_KEY, 'x-meter-tag': 'strict' },
      body: JSON.stringify({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    });

  await send(20); // on_store_error: allow forwards them
  const refused = await strict();
  assert.equal(refused.status, 503, 'on_store_error: deny fails closed');
  await refused.arrayBuffer();
  assert.equal((await fetch(`${url}/_meter/health`)).status, 503);
  await waitFor('21 records journaled', async () => (await app.recorder.flush(), app.recorder.stats().journaled === 21), 10_000);
  assert.equal(up.received.length, 20, 'the refused request never went upstream');

  const redis = await startRedis({ t, port });
  const orgSpent = async () => {
    const body = (await (await fetch(`${url}/_meter/budgets`)).json()) as { budgets: Array<{ budget: string; spent_usd: number }> };
    return body.budgets.find((b) => b.budget === 'org')?.spent_usd;
  };
  await waitFor(
    'the journal replayed and the settles applied',
    async () => {
      await app.flush();
      const s = app.recorder.stats();
      return s.journaled === 0 && s.written === 21 && (await orgSpent()) === 0.09;
    },
    20_000,
  );
  assert.equal(app.recorder.stats().dropped, 0);
  const r = new Redis(redis.url);
  t.after(() => r.quit());
  assert.equal(await r.xlen('{cm}:events'), 21, 'every record reached Redis, exactly once');
  const rows = await app.store.query({ by: 'all', granularity: 'day', from: Date.now() - 86_400_000, to: Date.now() + 60_000 });
  assert.equal(
    rows.reduce((a, row) => a + row.totals.requests, 0),
    21,
  );
  assert.equal(
    rows.reduce((a, row) => a + row.totals.costPicoUsd, 0n),
    20n * 4_500_000_000n,
  );
  // The settles of the requests forwarded during the outage reached the budget: 20 × $0.0045.
  assert.equal(await orgSpent(), 0.09);
  const admitted = await strict();
  assert.equal(admitted.status, 200, 'with Redis up, the fail-closed budget admits again');
  await admitted.arrayBuffer();
});
