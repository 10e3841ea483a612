/**
 * Budgets admit what fits: a burst from a cold start, large and small requests contending,
 * a client that leaves while waiting, and Redis lost while requests wait. Real SDK, real Redis,
 * two proxies; after each run the fit oracle checks every refusal against the cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { waitFor } from '../helpers/wait.ts';
import { assertGoals, burstRequest, mixedRequests, report, runBurst, summarize, type BurstRequest } from './burst-harness.ts';

const SONNET = 'claude-sonnet-4-5'; // $3 in / $15 out per MTok

test('burst: 150 concurrent SDK requests on 2 proxies against a fresh $0.05 cap use >= 90% of it, none refused that would have fit', async (t) => {
  const redis = await startRedis({ t });
  const run = await runBurst(t, {
    redis: { url: redis.url },
    proxies: 2,
    budget: budget({ name: 'burst', limit_usd: 0.05 }),
    model: SONNET,
    requests: Array.from({ length: 150 }, (_, i) => burstRequest(i)),
  });
  const s = summarize(run);
  report('burst, 2 proxies, $0.05 cap, 150 requests', run, s);
  assertGoals(run, s, 0.9);
  assert.equal(s.refused['in_flight'] ?? 0, 0, 'nobody waited past max_wait_ms');
});

test('mixed: large requests are not starved by small ones contending for the same cap', async (t) => {
  const redis = await startRedis({ t });
  const requests = mixedRequests(120);
  const run = await runBurst(t, {
    redis: { url: redis.url },
    proxies: 2,
    budget: budget({ name: 'mixed', limit_usd: 0.2 }),
    model: SONNET,
    requests,
  });
  const s = summarize(run);
  report('mixed large/small, 2 proxies, $0.20 cap, 120 requests', run, s);
  assertGoals(run, s, 0.9);
  const large = run.outcomes.filter((o) => o.i % 5 === 0 && o.admitted).length;
  assert.ok(large >= 3, `only ${large} large requests admitted`);
});

test('a client that leaves while waiting leaves the queue (depth back to 0) and is recorded as 499', async (t) => {
  const redis = await startRedis({ t });
  // The cap fits about one cold reservation at a time; the ones that wait give up after 150 ms.
  const requests = Array.from({ length: 6 }, (_, i): BurstRequest => ({ ...burstRequest(i), ...(i >= 2 ? { abortAfterMs: 150 } : {}) }));
  const run = await runBurst(t, {
    redis: { url: redis.url },
    proxies: 1,
    budget: budget({ name: 'leave', limit_usd: 0.03 }),
    model: SONNET,
    requests,
    delayMs: 40,
  });
  const s = summarize(run);
  report('clients leaving while waiting', run, s);
  assert.ok((s.refused['aborted'] ?? 0) >= 1, JSON.stringify(s.refused));
  const proxy = run.proxies[0];
  assert.ok(proxy);
  const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
  assert.match(metrics, /claude_meter_budget_admission_queue_depth\{budget="leave"\} 0\n/);
  assert.match(metrics, /claude_meter_budget_admission_wait_seconds_count\{budget="leave",outcome="left"\} [1-9]/);
  const left = (run.logs[0] ?? []).filter((l) => l.msg === 'request' && l.obj['status'] === 499);
  assert.ok(left.length >= 1, 'a record of each request that left');
  assert.ok(
    left.every((l) => l.obj['usage_missing'] === 'refused_by_budget'),
    JSON.stringify(left.map((l) => l.obj['usage_missing'])),
  );
  const state = (await (await fetch(`${proxy.url}/_meter/budgets`)).json()) as { budgets: { reserved_usd: number }[] };
  assert.equal(state.budgets[0]?.reserved_usd, 0, 'nothing stays reserved');
});

for (const policy of ['allow', 'deny'] as const) {
  test(`Redis lost while requests wait: they follow on_store_error: ${policy}, none hangs`, async (t) => {
    const redis = await startRedis({ t });
    const requests = Array.from({ length: 20 }, (_, i) => burstRequest(i));
    const t0 = Date.now();
    const run = await runBurst(t, {
      redis: { url: redis.url },
      proxies: 2,
      budget: budget({ name: 'down', limit_usd: 0.03, on_store_error: policy }),
      model: SONNET,
      requests,
      delayMs: 30,
      during: async (run) => {
        // Stop Redis once requests wait for reservations to settle.
        const waiting = /claude_meter_budget_admission_queue_depth\{budget="down"\} [1-9]/;
        const anyWaiting = async () =>
          (await Promise.all(run.proxies.map(async (p) => waiting.test(await (await fetch(`${p.url}/metrics`)).text())))).some(Boolean);
        await waitFor('a request waiting', anyWaiting, 10_000);
        await redis.stop();
      },
    });
    const s = summarize(run);
    report(`Redis stopped mid-wait, on_store_error ${policy}`, run, s);
    assert.equal(run.outcomes.length, 20, 'every request was answered');
    assert.ok(Date.now() - t0 < 10_000, 'nobody waited out max_wait_ms');
    const metrics = await (await fetch(`${run.proxies[0]?.url}/metrics`)).text();
    assert.match(metrics, /claude_meter_budget_admission_wait_seconds_count\{budget="down",outcome="store_error"\} [1-9]/);
    if (policy === 'deny')
      assert.ok(
        run.outcomes.some((o) => !o.admitted && o.cause === 'status_503'),
        JSON.stringify(s.refused),
      );
    else assert.ok(s.admitted > 2, `admitted ${s.admitted}`);
  });
}
