/**
 * Quota leasing under sustained traffic that runs a cap down, on 4 proxies (the budget state
 * of 2 proxies × 2 workers: four lease holders) sharing one Redis or a 3-master Cluster: most
 * requests are admitted from leases while the cap has room, leases shrink as it nears and
 * admission falls back to the exact script, and the guarantees of per-request admission hold:
 * spend within the cap plus what requests in flight underestimated, >= 95% of the cap used,
 * no refusal of a request that would have fitted (the fit oracle), nobody left waiting past
 * max_wait_ms for headroom a lease held.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { assertGoals, burstRequest, mixedRequests, report, runBurst, summarize, type BurstRequest } from './burst-harness.ts';

const HAIKU = 'claude-haiku-4-5';
const PROMPT = 'Summarize the following in one sentence: the quick brown fox jumps over the lazy dog.';

/** $0.0012–$0.0022 each at haiku's $1/$5 per MTok: 700 in, 100–300 out. */
const request = (i: number): BurstRequest => ({
  usage: { input_tokens: 700, output_tokens: 100 + ((i * 37) % 201) },
  stream: i % 3 === 0,
  maxTokens: 512,
  prompt: PROMPT,
});

async function sustained(t: TestContext, redis: { url: string } | { nodes: string[] }, label: string): Promise<void> {
  const N = 900;
  const run = await runBurst(t, {
    redis,
    proxies: 4,
    budget: budget({ name: 'leased', limit_usd: 0.6 }),
    model: HAIKU,
    requests: Array.from({ length: N }, (_, i) => request(i)),
    concurrency: 32,
    chunkSize: 64,
    delayMs: 1,
  });
  const s = summarize(run);
  report(`sustained, 4 lease holders, $0.60 cap, ${N} requests at c=32, ${label}`, run, s);
  const cap = run.capPico;
  // Overshoot: within what the admitted requests underestimated (the bound every admission keeps).
  assert.ok(s.spentPico <= cap + Math.round(s.boundUsd * 1e12), `spent ${s.spentPico / 1e12} > cap + bound ${s.boundUsd}`);
  assert.ok(s.spentPico >= 0.95 * cap, `spent ${s.spentPico / 1e12}: under 95% of the cap`);
  const inflight = s.wouldHaveFit.filter((o) => o.cause === 'in_flight');
  assert.equal(inflight.length, 0, `in_flight refusals that would have fit: ${inflight.length}`);
  assert.equal(s.refused['in_flight'] ?? 0, 0, 'nobody waited past max_wait_ms');
  assert.ok(s.leaseSyncs > 0, 'leases were synced');
  assert.ok(s.exact < 0.5 * s.admitted, `${s.exact} of ${s.admitted} admitted by the exact script: leases carried most of the traffic`);
}

test('sustained traffic on 4 lease holders and one Redis runs a cap down within the bound, >= 95% used, no refusal that would have fitted', async (t) => {
  const redis = await startRedis({ t });
  await sustained(t, { url: redis.url }, 'single Redis');
});

test('the same on a 3-master Redis Cluster', async (t) => {
  const cluster = await startRedisCluster({ t });
  await sustained(t, { nodes: cluster.nodes.map((n) => `${n.host}:${n.port}`) }, '3-master cluster');
});

test('the burst and mixed tests on 4 lease holders (2 proxies × 2 workers): >= 90% of a cold cap, no refusal that would have fitted', async (t) => {
  const redis = await startRedis({ t });
  const burst = await runBurst(t, {
    redis: { url: redis.url },
    proxies: 4,
    budget: budget({ name: 'burst4', limit_usd: 0.05 }),
    model: 'claude-sonnet-4-5',
    requests: Array.from({ length: 150 }, (_, i) => burstRequest(i)),
  });
  const b = summarize(burst);
  report('burst, 4 lease holders, $0.05 cap, 150 requests', burst, b);
  assertGoals(burst, b, 0.9);
  assert.equal(b.refused['in_flight'] ?? 0, 0, 'nobody waited past max_wait_ms');

  const requests = mixedRequests(120);
  const mixed = await runBurst(t, {
    redis: { url: redis.url },
    proxies: 4,
    budget: budget({ name: 'mixed4', limit_usd: 0.2 }),
    model: 'claude-sonnet-4-5',
    requests,
  });
  const m = summarize(mixed);
  report('mixed large/small, 4 lease holders, $0.20 cap, 120 requests', mixed, m);
  assertGoals(mixed, m, 0.9);
  assert.ok(mixed.outcomes.filter((o) => o.i % 5 === 0 && o.admitted).length >= 3, 'large requests are not starved');
});
