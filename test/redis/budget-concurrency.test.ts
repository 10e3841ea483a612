/**
 * The cap holds under concurrency and across instances: 3 proxies on one Redis (and on a
 * 3-master Redis Cluster), 300 concurrent streaming requests through the official SDK
 * against a small cap. Spent must end at or below cap + the documented bound (the sum of
 * the admitted requests' underestimates), and reach 95% of the cap (requests blocked only by
 * reservations in flight wait for them). The naive check-then-add variant runs in the same
 * setup for comparison.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy, recordingLogger, type LogLine } from '../helpers/start-proxy.ts';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { NaiveBudgetStore } from '../helpers/naive-budget-store.ts';
import { RedisBudgetStore } from '../../src/budget/store/redis-budget-store.ts';
import { createRedisClient } from '../../src/redis/client.ts';
import type { Config } from '../../src/config/types.ts';
import { report as reportBurst, runBurst, summarize, type BurstRequest } from './burst-harness.ts';

const MODEL = 'claude-haiku-4-5'; // $1 in / $5 out per MTok
const CAP_USD = 0.5;
const REQUESTS = 300;
const PROMPT = 'x'.repeat(4000); // ~1,000 tokens of prompt, so the bytes-per-token estimate is realistic

/** Deterministic pseudo-random outputs of 100..1000 tokens: reservations learn a p95, some requests exceed it. */
function outputFor(i: number): number {
  return 100 + ((i * 7919) % 901);
}

interface Outcome {
  admitted: number;
  refused: number;
  spentUsd: number;
  boundUsd: number;
}

/** The naive variant: the same proxies with a check-then-add store. */
async function run(t: TestContext, redisConfig: Partial<Config['store']['redis']>, naive: () => RedisBudgetStore): Promise<Outcome> {
  const up = await startMockAnthropic(t);
  up.setScenario((req) => {
    const i = Number((JSON.parse(req.body.toString()) as { metadata: { user_id: string } }).metadata.user_id);
    return {
      kind: 'message',
      usage: { input_tokens: 1000, output_tokens: outputFor(i) },
      text: 'a b c d e f g h',
      chunkSize: 128,
      delayMs: 2,
    };
  });
  const logs: LogLine[][] = [];
  const proxies: Awaited<ReturnType<typeof startProxy>>[] = [];
  for (let p = 0; p < 3; p++) {
    const logger = recordingLogger();
    logs.push(logger.lines);
    proxies.push(
      await startProxy(t, {
        upstream: up.url,
        logger,
        budgetStore: new NaiveBudgetStore(naive()),
        config: {
          store: { redis: { url: null, cluster_nodes: [], key_prefix: 'cc', ...redisConfig } },
          budgets: [budget({ name: 'small-cap', limit_usd: CAP_USD })],
        },
      }),
    );
  }
  let admitted = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const proxy = proxies[i % 3];
      assert.ok(proxy);
      const c = new Anthropic({ apiKey: 'sk-concurrency', baseURL: proxy.url, maxRetries: 0 });
      try {
        await c.messages
          .stream({ model: MODEL, max_tokens: 1024, metadata: { user_id: String(i) }, messages: [{ role: 'user', content: PROMPT }] })
          .finalMessage();
        admitted++;
      } catch (e) {
        assert.ok(e instanceof Anthropic.RateLimitError, String(e));
        refused++;
      }
    }),
  );
  for (const p of proxies) await p.app.flush();
  const report = (await (await fetch(`${proxies[0]?.url}/_meter/budgets`)).json()) as { budgets: { spent_usd: number }[] };
  const spentUsd = report.budgets[0]?.spent_usd ?? NaN;
  // The documented bound: Σ over admitted requests of max(0, actual − reserved).
  let boundUsd = 0;
  for (const line of logs.flat()) {
    if (line.msg !== 'request' || line.obj['status'] !== 200) continue;
    const cost = Number(line.obj['cost_usd']);
    const reserved = Number(line.obj['reserved_usd'] ?? 0);
    boundUsd += Math.max(0, cost - reserved);
  }
  return { admitted, refused, spentUsd, boundUsd };
}

function report(label: string, o: Outcome): void {
  // Figures quoted in the README (Budgets: measured overshoot).
  console.log(
    `budget overshoot figure | ${label}: cap $${CAP_USD.toFixed(2)}, admitted ${o.admitted}/${REQUESTS}, spent $${o.spentUsd.toFixed(4)} ` +
      `(${((o.spentUsd / CAP_USD) * 100).toFixed(1)}% of cap), bound $${o.boundUsd.toFixed(4)}`,
  );
}

/** Ours through the burst harness: what each proxy's ledger did is recorded, so refusals can be checked against the cap. */
async function ours(t: TestContext, redis: { url: string } | { nodes: string[] }, label: string, proxies = 3): Promise<void> {
  const requests = Array.from(
    { length: REQUESTS },
    (_, i): BurstRequest => ({ usage: { input_tokens: 1000, output_tokens: outputFor(i) }, stream: true, maxTokens: 1024, prompt: PROMPT }),
  );
  const run = await runBurst(t, {
    redis,
    proxies,
    budget: budget({ name: 'small-cap', limit_usd: CAP_USD }),
    model: MODEL,
    requests,
    chunkSize: 128,
    delayMs: 2,
  });
  const s = summarize(run);
  reportBurst(label, run, s);
  const spent = s.spentPico / 1e12;
  assert.ok(spent <= CAP_USD + s.boundUsd + 1e-9, `spent ${spent} > cap ${CAP_USD} + bound ${s.boundUsd}`);
  assert.ok(spent >= 0.95 * CAP_USD, `spent ${spent}: under 95% of the cap`);
  assert.ok(s.admitted > 0 && s.admitted < REQUESTS);
  const inflight = s.wouldHaveFit.filter((o) => o.cause === 'in_flight');
  assert.equal(inflight.length, 0, `in_flight refusals that would have fit: ${inflight.length}`);
}

test('3 proxies on one Redis hold the cap within the bound under 300 concurrent streams and use >= 95% of it; naive check-then-add does not hold it', async (t) => {
  const redis = await startRedis({ t });
  await ours(t, { url: redis.url }, 'reserve-then-settle, single Redis, 300 streams on 3 proxies, $0.50 cap');

  const redis2 = await startRedis({ t });
  const naive = await run(t, { url: redis2.url }, () => new RedisBudgetStore(createRedisClient(redis2.url), { prefix: 'cc' }));
  report('naive check-then-add, single Redis', naive);
  assert.ok(naive.spentUsd > CAP_USD * 2, `naive variant overshoots by design: spent ${naive.spentUsd}`);
});

test('the same on a 3-master Redis Cluster', async (t) => {
  const cluster = await startRedisCluster({ t });
  await ours(
    t,
    { nodes: cluster.nodes.map((n) => `${n.host}:${n.port}`) },
    'reserve-then-settle, 3-master cluster, 300 streams on 3 proxies, $0.50 cap',
  );
});

test('the same 300 streams on 4 proxies (2 proxies × 2 workers, each leasing on its own): within the bound, >= 95% of the cap', async (t) => {
  const redis = await startRedis({ t });
  await ours(t, { url: redis.url }, 'reserve-then-settle, single Redis, 300 streams on 4 proxies (2 × 2 workers), $0.50 cap', 4);
});
