/**
 * The budget near its cap on 2 proxies × 2 workers: two `claude-meter start --workers 2`
 * process trees (the built command) on one real Redis, sustained SDK traffic through both,
 * each worker leasing on its own. Afterwards (both stopped with SIGTERM, which returns every
 * lease and sends its spend): the budget's spend equals the sum of what the admitted requests
 * were billed, exactly; it is within the cap plus what requests in flight underestimated; >= 95%
 * of the cap is used; nobody was refused after waiting for headroom held elsewhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startWorkers } from '../helpers/workers-process.ts';
import { connectRedis } from './connect.ts';
import { RedisBudgetStore } from '../../src/budget/store/redis-budget-store.ts';
import { BudgetCatalog } from '../../src/budget/catalog.ts';
import { buildPricer } from '../../src/pricing/build.ts';
import { DEFAULTS } from '../../src/config/defaults.ts';
import { budget } from '../helpers/budget-config.ts';

const CAP_USD = 0.5;
const N = 700;
const C = 32;
/** haiku, $1/$5 per MTok: 700 in + 100..300 out = $0.0012..$0.0022. */
const usageOf = (i: number) => ({ input_tokens: 700, output_tokens: 100 + ((i * 37) % 201) });
const costPico = (i: number) => 700 * 1_000_000 + usageOf(i).output_tokens * 5_000_000;

test('2 proxies × 2 workers on one Redis run a cap down: spend = the bill of what was admitted, within cap + bound, >= 95% used, no wait refused', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario((req) => {
    const i = Number((JSON.parse(req.body.toString()) as { metadata: { user_id: string } }).metadata.user_id);
    return { kind: 'message', usage: usageOf(i), chunkSize: 64, delayMs: 1 };
  });
  const redis = await startRedis({ t });
  const yaml = `budgets:\n  - name: cap\n    limit_usd: ${CAP_USD}\n`;
  const env = { UPSTREAM_URL: up.url, REDIS_URL: redis.url };
  const proxies = await Promise.all([startWorkers(t, { yaml, env }), startWorkers(t, { yaml, env })]);

  let next = 0;
  const outcomes: { i: number; ok: boolean; cause: string | null }[] = [];
  await Promise.all(
    Array.from({ length: C }, async (_, c) => {
      const client = new Anthropic({ apiKey: 'sk-ant-workers-cap', baseURL: (proxies[c % 2] as (typeof proxies)[0]).url, maxRetries: 0 });
      while (next < N) {
        const i = next++;
        try {
          const params = {
            model: 'claude-haiku-4-5',
            max_tokens: 512,
            metadata: { user_id: String(i) },
            messages: [{ role: 'user' as const, content: 'x' }],
          };
          if (i % 3 === 0) await client.messages.stream(params).finalMessage();
          else await client.messages.create(params);
          outcomes.push({ i, ok: true, cause: null });
        } catch (e) {
          const cause = e instanceof Anthropic.RateLimitError ? (e.headers?.get('x-meter-budget-refusal') ?? 'unknown') : String(e);
          outcomes.push({ i, ok: false, cause });
        }
      }
    }),
  );
  for (const p of proxies) assert.equal((await p.stop()).code, 0);

  const admitted = outcomes.filter((o) => o.ok);
  const billed = admitted.reduce((a, o) => a + costPico(o.i), 0);
  // Each request's log line: what it reserved and what it cost; the bound sums the underestimates.
  const requests = proxies.flatMap((p, pi) =>
    p.lines.filter((l) => l.msg === 'request' && l['status'] === 200).map((line) => ({ line, proxy: pi })),
  );
  assert.equal(requests.length, admitted.length);
  const boundPico = requests.reduce(
    (a, { line }) => a + Math.max(0, Number(line['cost_usd']) - Number(line['reserved_usd'] ?? 0)) * 1e12,
    0,
  );
  const workers = new Set(requests.map(({ line, proxy }) => `${proxy}:${line.worker}`));
  assert.equal(workers.size, 4, `all four workers served: ${[...workers]}`);

  const client = await connectRedis(redis.url);
  const ledger = new RedisBudgetStore(client);
  t.after(() => ledger.close());
  const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
  const catalog = new BudgetCatalog([budget({ name: 'cap', limit_usd: CAP_USD })], () => pricer);
  const [state] = await ledger.state([catalog.instanceRef(catalog.budgets[0]!, '*', Date.now())], Date.now());
  const refused = outcomes.filter((o) => !o.ok);
  console.log(
    `lease figure | 2 proxies × 2 workers, $${CAP_USD} cap, ${N} requests at c=${C}: admitted ${admitted.length}, ` +
      `refused ${JSON.stringify(Object.fromEntries([...new Set(refused.map((o) => o.cause))].map((c) => [c, refused.filter((o) => o.cause === c).length])))}, ` +
      `spent $${((state?.spentPico ?? 0) / 1e12).toFixed(4)} (${(((state?.spentPico ?? 0) / (CAP_USD * 1e12)) * 100).toFixed(1)}%), bound $${(boundPico / 1e12).toFixed(4)}`,
  );
  assert.equal(state?.spentPico, billed, 'the budget spent exactly the bill of what it admitted, across four workers');
  assert.equal(state?.reservedPico, 0, 'every lease returned at shutdown');
  assert.ok(billed <= CAP_USD * 1e12 + boundPico, 'within the cap plus what requests in flight underestimated');
  assert.ok(billed >= 0.95 * CAP_USD * 1e12, `${billed / 1e12}: >= 95% of the cap`);
  assert.equal(refused.filter((o) => o.cause === 'in_flight').length, 0, 'nobody refused after waiting for headroom');
  assert.ok(
    refused.every((o) => o.cause === 'exhausted' || o.cause === 'nearly_exhausted'),
    'only the cap refused',
  );
});
