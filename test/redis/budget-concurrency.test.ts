/**
 * The cap holds under concurrency and across instances: 3 proxies on one Redis (and on a
 * 3-master Redis Cluster), 300 concurrent streaming requests through the official SDK
 * against a small cap. Spent must end at or below cap + the documented bound (the sum of
 * the admitted requests' underestimates). The naive check-then-add variant runs in the
 * same setup for comparison.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy, recordingLogger, type LogLine } from '../helpers/start-proxy.ts';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { NaiveBudgetStore } from '../helpers/naive-budget-store.ts';
import { RedisBudgetStore } from '../../src/budget/redis-budget-store.ts';
import { createRedisClient } from '../../src/redis/client.ts';
import type { Config } from '../../src/config/types.ts';

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
  rejected: number;
  spentUsd: number;
  boundUsd: number;
}

async function run(
  t: TestContext,
  redisConfig: Partial<Config['store']['redis']>,
  naive: null | (() => RedisBudgetStore),
): Promise<Outcome> {
  const up = await startMockAnthropic(t);
  up.setScenario((req) => {
    const i = Number((JSON.parse(req.body.toString()) as { metadata: { user_id: string } }).metadata.user_id);
    return { kind: 'message', usage: { input_tokens: 1000, output_tokens: outputFor(i) }, text: 'a b c d e f g h', chunkSize: 128, delayMs: 2 };
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
        ...(naive ? { budgetStore: new NaiveBudgetStore(naive()) } : {}),
        config: { store: { redis: { url: null, cluster_nodes: [], key_prefix: 'cc', ...redisConfig } }, budgets: [budget({ name: 'small-cap', limit_usd: CAP_USD })] },
      }),
    );
  }
  let admitted = 0;
  let rejected = 0;
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
        rejected++;
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
  return { admitted, rejected, spentUsd, boundUsd };
}

function report(label: string, o: Outcome): void {
  // Figures quoted in the README (Budgets: measured overshoot).
  console.log(
    `budget overshoot figure | ${label}: cap $${CAP_USD.toFixed(2)}, admitted ${o.admitted}/${REQUESTS}, spent $${o.spentUsd.toFixed(4)} ` +
      `(${((o.spentUsd / CAP_USD) * 100).toFixed(1)}% of cap), bound $${o.boundUsd.toFixed(4)}`,
  );
}

test('3 proxies on one Redis hold the cap within the bound under 300 concurrent streams; naive check-then-add does not', async (t) => {
  const redis = await startRedis({ t });
  const ours = await run(t, { url: redis.url }, null);
  report('reserve-then-settle, single Redis', ours);
  assert.ok(ours.spentUsd <= CAP_USD + ours.boundUsd + 1e-9, `spent ${ours.spentUsd} > cap ${CAP_USD} + bound ${ours.boundUsd}`);
  assert.ok(ours.admitted > 0 && ours.rejected > 0);

  const redis2 = await startRedis({ t });
  const naive = await run(t, { url: redis2.url }, () => new RedisBudgetStore(createRedisClient(redis2.url), { prefix: 'cc' }));
  report('naive check-then-add, single Redis', naive);
  assert.ok(naive.spentUsd > CAP_USD * 2, `naive variant overshoots by design: spent ${naive.spentUsd}`);
});

test('the same on a 3-master Redis Cluster', async (t) => {
  const cluster = await startRedisCluster({ t });
  const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`);
  const ours = await run(t, { cluster_nodes: nodes }, null);
  report('reserve-then-settle, 3-master cluster', ours);
  assert.ok(ours.spentUsd <= CAP_USD + ours.boundUsd + 1e-9, `spent ${ours.spentUsd} > cap ${CAP_USD} + bound ${ours.boundUsd}`);
  assert.ok(ours.admitted > 0 && ours.rejected > 0);
});
