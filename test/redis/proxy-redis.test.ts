/**
 * The proxy on a real Redis: records land there, and when Redis dies traffic keeps
 * flowing, records are journaled, and once Redis is back every record is written once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { recordingLogger, startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { waitFor } from '../helpers/wait.ts';

const MODEL = 'claude-sonnet-4-6'; // $3 / $15 per MTok
const RAW_KEY = 'sk-ant-api03-raw-key-must-not-reach-redis';

test('Redis down: requests keep succeeding, records are journaled, and replayed exactly once when Redis returns', async (t) => {
  const redis = await startRedis({ t, persist: true });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 100 } }));
  const { app, url } = await startProxy(t, { upstream: up.url, config: { store: { redis: { url: redis.url, key_prefix: 'cm' } } } });
  assert.equal(app.store.kind, 'redis');
  const client = new Anthropic({ apiKey: RAW_KEY, baseURL: url, maxRetries: 0 });
  const send = (n: number) =>
    Promise.all(
      Array.from({ length: n }, () => client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })),
    );

  await send(10);
  // Records are made after the response's last byte, so the SDK can return first: wait, then flush.
  await waitFor('10 records written', async () => (await app.recorder.flush(), app.recorder.stats().written === 10), 10_000);
  assert.equal(app.recorder.stats().written, 10);

  await redis.kill();
  const health = await fetch(`${url}/_meter/health`);
  assert.equal(health.status, 503, 'health reports the store down');
  const t0 = Date.now();
  await send(25); // all must succeed while Redis is gone
  assert.ok(Date.now() - t0 < 5000, 'requests did not wait for Redis');
  await app.recorder.flush();
  assert.equal(app.recorder.stats().journaled, 25);

  await redis.restart();
  // The journal empties as replays are taken from it, before Redis acknowledges them: wait for both.
  await waitFor(
    'the journal replayed',
    async () => {
      await app.recorder.flush();
      return app.recorder.stats().journaled === 0;
    },
    10_000,
  );

  const r = new Redis(redis.url);
  t.after(() => r.quit());
  const rows = await app.store.query({ by: 'all', granularity: 'day', from: Date.now() - 86_400_000, to: Date.now() + 60_000 });
  const requests = rows.reduce((a, row) => a + row.totals.requests, 0);
  const cost = rows.reduce((a, row) => a + row.totals.costPicoUsd, 0n);
  assert.equal(requests, 35);
  // 35 × (1000×$3 + 100×$15)/1e6 = 35 × $0.0045
  assert.equal(cost, 35n * 4_500_000_000n);
  assert.equal(await r.xlen('{cm}:events'), 35);

  // The raw key never reached Redis: not in key names, hash fields or stream entries.
  const keys = await r.keys('*');
  let dump = keys.join('\n');
  for (const k of keys) {
    const type = await r.type(k);
    if (type === 'hash') dump += JSON.stringify(await r.hgetall(k));
    else if (type === 'stream') dump += JSON.stringify(await r.xrange(k, '-', '+'));
    else if (type === 'string') dump += String(await r.get(k));
  }
  assert.ok(dump.length > 1000);
  assert.ok(!dump.includes(RAW_KEY));
  assert.ok(!dump.includes('raw-key-must-not'));

  const usage = (await (await fetch(`${url}/_meter/usage?window=hour&by=key`)).json()) as { rows: { requests: number }[] };
  assert.equal(
    usage.rows.reduce((a, x) => a + x.requests, 0),
    35,
  );
});

test('a Redis outage under traffic is a few log lines, not one per request: down, then up, per component', async (t) => {
  const redis = await startRedis({ t, persist: true });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 100 } }));
  const logger = recordingLogger();
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    logger,
    forecasting: false,
    config: { store: { redis: { url: redis.url, key_prefix: 'cm' } }, budgets: [budget({ name: 'org', limit_usd: 100 })] },
  });
  const client = new Anthropic({ apiKey: RAW_KEY, baseURL: url, maxRetries: 0 });
  const send = async (n: number) => {
    for (let i = 0; i < n; i++) await client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  };
  await send(5);
  await redis.kill();
  await send(60); // each meets the dead store three times: admission, record, settle
  await redis.restart();
  const orgSpent = async () => {
    const body = (await (await fetch(`${url}/_meter/budgets`)).json()) as { budgets: Array<{ budget: string; spent_usd: number }> };
    return body.budgets.find((b) => b.budget === 'org')?.spent_usd;
  };
  await waitFor(
    'records replayed and settles applied',
    async () => (await app.flush(), app.recorder.stats().journaled === 0 && (await orgSpent()) === 0.2925),
    20_000,
  );
  await send(1); // the first admission on the store again
  const all = logger.lines.filter((l) => l.msg !== 'request' && l.level !== 'debug').map((l) => `${l.level}: ${l.msg}`);
  // Lease syncs meet the outage only if a lease was held when it began (timing): then once down, once up.
  const leaseLines = all.filter((l) => l.includes('at lease sync'));
  assert.ok(
    leaseLines.length === 0 || (leaseLines.length === 2 && leaseLines[0]?.startsWith('error') && leaseLines[1]?.startsWith('info')),
    JSON.stringify(leaseLines),
  );
  const outage = all.filter((l) => !l.includes('at lease sync'));
  assert.deepEqual(outage.sort(), [
    'error: budget store unreachable at admission: each budget follows its on_store_error',
    'error: budget store unreachable: settles are queued and retried',
    'info: budget store reachable again at admission',
    'info: budget store reachable again: queued settles applied',
    'info: meter store reachable again',
    'warn: meter store unreachable; journaling records until it answers',
  ]);
  assert.equal(logger.lines.filter((l) => l.msg === 'request').length, 66);
});
