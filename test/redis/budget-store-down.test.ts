/** Budget store unreachable: on_store_error allow lets traffic through (counted), deny answers 503; nothing hangs, settles wait and apply once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { waitFor } from '../helpers/wait.ts';

const params = { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user' as const, content: 'hi' }] };

test('Redis down at admission: allow budgets pass and are counted, deny budgets answer 503 fast; settles apply when Redis is back', async (t) => {
  const redis = await startRedis({ t, persist: true });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 100 } })); // $0.0015
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: {
      // The exact path: with leases, admission would go on from a lease for its few seconds (test/unit/budget/gate-leases.test.ts).
      store: { redis: { url: redis.url, cluster_nodes: [], key_prefix: 'cm', budget_leases: false } },
      budgets: [
        budget({
          name: 'open',
          match: { tag: ['open'], key: [], model: [], path: [], upstream: [] },
          limit_usd: 10,
          on_store_error: 'allow',
        }),
        budget({
          name: 'closed',
          match: { tag: ['closed'], key: [], model: [], path: [], upstream: [] },
          limit_usd: 10,
          on_store_error: 'deny',
        }),
      ],
    },
  });
  const sdk = (tag: string) => new Anthropic({ apiKey: 'k', baseURL: url, maxRetries: 0, defaultHeaders: { 'x-meter-tag': tag } });
  const openSpent = async () => {
    const body = (await (await fetch(`${url}/_meter/budgets`)).json()) as {
      budgets: { budget: string; spent_usd: number; reserved_usd: number }[];
    };
    return body.budgets.find((b) => b.budget === 'open');
  };
  await sdk('open').messages.create(params);
  // The first settle runs after the response's last byte: let it land before the kill, or it
  // would be queued too and the pending count below would read 2 (a CI flake, stop 7).
  await waitFor('the first settle', async () => (await openSpent())?.spent_usd === 0.0015, 2_000);
  assert.equal((await openSpent())?.spent_usd, 0.0015, 'first request settled before Redis goes down');
  await redis.kill();

  const t0 = Date.now();
  const ok = await sdk('open').messages.create(params);
  assert.equal(ok.usage.output_tokens, 100);
  const err = await sdk('closed')
    .messages.create(params)
    .catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.InternalServerError, String(err));
  assert.equal((err as InstanceType<typeof Anthropic.APIError>).status, 503);
  assert.match(String((err as Error).message), /budget store unreachable/);
  assert.ok(Date.now() - t0 < 3000, 'no hang while Redis is down');
  // The allowed request's settle fails after its response, asynchronously: wait for it to be queued.
  let metrics = '';
  await waitFor(
    'the failed settle to be queued',
    async () => /claude_meter_budget_settles_pending 1/.test((metrics = await (await fetch(`${url}/metrics`)).text())),
    3_000,
  );
  assert.match(metrics, /claude_meter_budget_store_errors_total\{budget="open",outcome="allowed"\} 1/);
  assert.match(metrics, /claude_meter_budget_store_errors_total\{budget="closed",outcome="refused"\} 1/);
  assert.match(metrics, /claude_meter_budget_settles_pending 1/);

  await redis.restart();
  await waitFor(
    'the queued settle to be retried',
    async () => /claude_meter_budget_settles_pending 0/.test(await (await fetch(`${url}/metrics`)).text()),
    10_000,
  );
  await app.flush();
  const open = await openSpent();
  assert.equal(open?.spent_usd, 0.003, 'both requests settled exactly once');
  assert.equal(open?.reserved_usd, 0);
});
