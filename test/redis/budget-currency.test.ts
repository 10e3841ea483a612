/**
 * A ¥ budget enforced by two gates on one real Redis (and a 3-master Cluster), each wired as a
 * proxy wires its budgets (wireBudgets: gate, settle queue, its own connections and settle feed),
 * with traffic from two upstreams: one bills ¥ at list price × 1 (a relay), one bills $ at list
 * price, counted in ¥ through USD_CNY 7.1. Every request also counts on a $ budget, so each
 * admission and settle is one script over refs in two currencies. Each admitted request is
 * forwarded with the official SDK to a mock upstream that streams its usage; the usage is billed
 * by the request's biller and settled as the exchange settles it.
 *
 * The guarantees are those of the $ burst tests (budget-admission, budget-concurrency), in ¥:
 * spend ≤ cap + Σ max(0, actual − reserved) (the overshoot bound), ≥ 90% of the cap used, and
 * no request refused for reservations in flight that would have fitted (the fit oracle). And the
 * counters are exact: the ¥ spent is the sum of each request's ¥ cost, converted once, half to even.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { factorBiller, halfEven } from '../helpers/billers.ts';
import { RedisBudgetStore } from '../../src/budget/store/redis-budget-store.ts';
import { RedisSettleFeed } from '../../src/budget/store/redis-settle-feed.ts';
import type { RedisClient } from '../../src/redis/client.ts';
import { quitClient } from '../../src/redis/client.ts';
import { connectCluster, connectRedis } from './connect.ts';
import { wireBudgets, type BudgetWiring } from '../../src/compose/budgets.ts';
import { listBiller } from '../../src/pricing/billing.ts';
import type { GateRequest } from '../../src/budget/gate.ts';
import type { AdmitResult, Amount, InstanceRef, SettleResult } from '../../src/budget/types.ts';
import { ExchangeRates } from '../../src/core/currency.ts';
import { emptyUsage, type Usage } from '../../src/core/usage.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import { DEFAULTS } from '../../src/config/defaults.ts';
import { buildPricer } from '../../src/pricing/build.ts';
import type { Biller } from '../../src/pricing/types.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { systemClock } from '../../src/lib/clock.ts';

const SONNET = 'claude-sonnet-4-5'; // $3 in / $15 out per MTok
const PROMPT = 'lorem ipsum dolor sit amet '.repeat(60); // ~1,600 bytes, ~400 tokens
const CAP_CNY = 0.5;
const CAP_PICO = CAP_CNY * 1e12;
const REQUESTS = 160;
const PREFIX = 'fx';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
const rates = new ExchangeRates({ USD_CNY: 7.1 });
const USD_LIST = listBiller(pricer);
const CNY_AT_LIST = factorBiller(pricer, 'CNY');
const budgets = [budget({ name: 'team-cny', limit: CAP_CNY, currency: 'CNY' }), budget({ name: 'org-usd', limit_usd: 100 })];

/** Request i: streamed or not, a small or a large answer, billed in ¥ or in $ (each gate sees both). */
function shape(i: number): { usage: MockUsage; stream: boolean; maxTokens: number; biller: Biller; upstream: string } {
  const large = i % 7 === 0;
  const cnyBilled = Math.floor(i / 2) % 2 === 0;
  return {
    usage: { input_tokens: 400, output_tokens: large ? 700 : 120 + ((i * 37) % 90) },
    stream: i % 3 !== 0,
    maxTokens: large ? 4096 : 1024,
    biller: cnyBilled ? CNY_AT_LIST : USD_LIST,
    upstream: cnyBilled ? 'relay' : 'default',
  };
}

const usageOf = (u: MockUsage): Usage => ({ ...emptyUsage(), input: u.input_tokens, output: u.output_tokens });

/** What request i really costs on each budget: ¥ (unconverted, or $ × 7.1 half to even) and $ (or ¥ × 10/71). */
function realCost(i: number): { cny: number; usd: number } {
  const s = shape(i);
  const list = pricer.price(SONNET, usageOf(s.usage), { at: Date.now(), betas: [] }).costPicoUsd;
  return s.biller === CNY_AT_LIST ? { cny: list, usd: halfEven(list, 10n, 71n) } : { cny: halfEven(list, 71n, 10n), usd: list };
}

/** A RedisBudgetStore that notes each admission's and settle's per-ref amounts, and when it completed. */
class RecordingStore extends RedisBudgetStore {
  readonly admits = new Map<string, Amount[]>();
  readonly settles: { t: number; id: string; amounts: readonly Amount[] }[] = [];
  override async admit(
    refs: readonly InstanceRef[],
    id: string,
    amounts: readonly Amount[],
    now: number,
    ttl: number,
  ): Promise<AdmitResult> {
    const r = await super.admit(refs, id, amounts, now, ttl);
    if (r.admitted) this.admits.set(id, [...amounts]);
    return r;
  }
  override async settle(refs: readonly InstanceRef[], id: string, actual: readonly Amount[], now: number): Promise<SettleResult> {
    const r = await super.settle(refs, id, actual, now);
    if (!r.duplicate) this.settles.push({ t: Date.now(), id, amounts: actual });
    return r;
  }
}

interface Outcome {
  i: number;
  admitted: boolean;
  cause: string | null;
  t: number;
}

type Connect = () => Promise<RedisClient>;

async function twoGates(t: TestContext, connect: Connect): Promise<{ wired: BudgetWiring[]; stores: RecordingStore[] }> {
  const wired: BudgetWiring[] = [];
  const stores: RecordingStore[] = [];
  for (let p = 0; p < 2; p++) {
    // Each gate has its own connections, as each proxy has.
    const store = new RecordingStore(await connect(), { prefix: PREFIX });
    const feedClient = await connect();
    const feed = new RedisSettleFeed(feedClient, { prefix: PREFIX, logger: silentLogger });
    const w = wireBudgets({
      budgets,
      forecast: () => DEFAULTS.forecast,
      store,
      meter: new MemoryStore({ clock: systemClock, bucketTtlSeconds: 3600, recordsMaxLen: 10 }),
      pricer: () => pricer,
      rates: () => rates,
      clock: systemClock,
      logger: silentLogger,
      feed,
    });
    t.after(async () => {
      await w.settles.close();
      await w.gate.close();
      await store.close();
      await quitClient(feedClient);
    });
    wired.push(w);
    stores.push(store);
  }
  return { wired, stores };
}

async function burst(t: TestContext, connect: Connect, label: string): Promise<void> {
  const up = await startMockAnthropic(t);
  up.setScenario((req) => {
    const i = Number((JSON.parse(req.body.toString()) as { metadata: { user_id: string } }).metadata.user_id);
    return { kind: 'message', usage: shape(i).usage, text: 'a b c d e f g h i j k l', chunkSize: 32, delayMs: 4 };
  });
  const sdk = new Anthropic({ apiKey: 'sk-currency', baseURL: up.url, maxRetries: 0 });
  const { wired, stores } = await twoGates(t, connect);
  const outcomes: Outcome[] = [];

  /** As the pipeline and the exchange do it: admit, forward, bill the usage, settle (queued), learn. */
  const one = async (i: number): Promise<void> => {
    const w = wired[i % 2] as BudgetWiring;
    const s = shape(i);
    const params = {
      model: SONNET,
      max_tokens: s.maxTokens,
      metadata: { user_id: String(i) },
      messages: [{ role: 'user' as const, content: PROMPT }],
    };
    const bytes = Buffer.byteLength(JSON.stringify(params));
    const req: GateRequest = {
      id: `req-${i}`,
      keyId: 'k',
      tag: '',
      model: SONNET,
      path: '/v1/messages',
      upstream: s.upstream,
      biller: s.biller,
      bytes,
      maxTokens: s.maxTokens,
      betas: [],
    };
    const a = await w.gate.admit(req);
    if (a.kind !== 'admitted') {
      outcomes.push({ i, admitted: false, cause: a.kind === 'refused' ? a.refusal.cause : a.kind, t: Date.now() });
      return;
    }
    const m = s.stream ? await sdk.messages.stream(params).finalMessage() : await sdk.messages.create(params);
    const usage = usageOf({ input_tokens: m.usage.input_tokens, output_tokens: m.usage.output_tokens });
    const bill = s.biller.bill(SONNET, usage, { at: Date.now(), betas: [] });
    w.settles.push({
      refs: a.refs,
      budgets: a.budgets,
      amounts: a.amounts,
      id: req.id,
      actual: { money: { currency: bill.currency, pico: bill.billedPico }, tokens: usage.input + usage.output },
    });
    w.gate.observe(SONNET, req.keyId, bytes, usage, s.maxTokens);
    outcomes.push({ i, admitted: true, cause: null, t: Date.now() });
  };
  await Promise.all(Array.from({ length: REQUESTS }, (_, i) => one(i)));
  for (const w of wired) await w.settles.flush();

  const admitted = outcomes.filter((o) => o.admitted);
  const refused = outcomes.filter((o) => !o.admitted);
  assert.ok(
    refused.every((o) => o.cause !== 'store_error' && o.cause !== 'left'),
    JSON.stringify(refused.map((o) => o.cause)),
  );

  // Exact: the ledger holds the sum of each admitted request's cost, converted once per request.
  const now = Date.now();
  const [cnyRef, usdRef] = budgets.map((b) => wired[0]?.catalog.instanceRef(b, '*', now) as InstanceRef);
  const [cnyState, usdState] = await (stores[0] as RecordingStore).state([cnyRef as InstanceRef, usdRef as InstanceRef], now);
  const expectedCny = admitted.reduce((sum, o) => sum + realCost(o.i).cny, 0);
  const expectedUsd = admitted.reduce((sum, o) => sum + realCost(o.i).usd, 0);
  assert.equal(cnyState?.spentPico, expectedCny, 'pico-CNY spent = Σ ¥ costs, each converted half to even');
  assert.equal(usdState?.spentPico, expectedUsd, 'pico-USD spent = Σ $ costs, each converted half to even');
  assert.equal(cnyState?.reservedPico, 0, 'no reservation left behind');

  // The overshoot bound, in ¥: Σ over admitted requests of max(0, actual − reserved) on the ¥ ref.
  let bound = 0;
  for (const store of stores)
    for (const s of store.settles) {
      const reserved = store.admits.get(s.id)?.[0]?.pico ?? 0;
      bound += Math.max(0, (s.amounts[0]?.pico ?? 0) - reserved);
    }
  const spent = cnyState?.spentPico ?? 0;
  const settles = stores.flatMap((s) => s.settles).sort((x, y) => x.t - y.t);
  // The fit oracle: a refusal for reservations in flight whose real ¥ cost fitted what was settled then.
  const wouldHaveFit = refused.filter((o) => {
    let settled = 0;
    for (const s of settles) if (s.t <= o.t) settled += s.amounts[0]?.pico ?? 0;
    return o.cause === 'in_flight' && settled + realCost(o.i).cny <= CAP_PICO;
  });
  const mixed = new Set(admitted.map((o) => shape(o.i).biller.currency));
  console.log(
    `currency budget figure | ${label}: ${REQUESTS} requests on 2 gates, admitted ${admitted.length} (billed in ${[...mixed].join(' and ')}), ` +
      `spent ¥${(spent / 1e12).toFixed(6)} of ¥${CAP_CNY} (${((spent / CAP_PICO) * 100).toFixed(1)}%), bound ¥${(bound / 1e12).toFixed(6)}, ` +
      `refused ${JSON.stringify(Object.fromEntries(['exhausted', 'nearly_exhausted', 'in_flight'].map((c) => [c, refused.filter((o) => o.cause === c).length])))}, would have fit ${wouldHaveFit.length}`,
  );
  assert.deepEqual([...mixed].sort(), ['CNY', 'USD'], 'both billers had requests admitted');
  assert.ok(spent <= CAP_PICO + bound, `spent ¥${spent / 1e12} > cap ¥${CAP_CNY} + bound ¥${bound / 1e12}`);
  assert.ok(spent >= 0.9 * CAP_PICO, `spent ¥${spent / 1e12}: under 90% of the cap`);
  assert.ok(refused.length > 0, 'the cap was reached');
  assert.deepEqual(wouldHaveFit, [], 'no in-flight refusal that would have fitted');
}

test('a ¥ budget on two gates sharing one Redis: ¥-billed and $-billed traffic (USD_CNY 7.1) hold the cap within the bound, use >= 90% of it, counted exactly', async (t) => {
  const redis = await startRedis({ t });
  await burst(t, () => connectRedis(redis.url), 'single Redis, ¥0.50 cap');
});

test('the same on a 3-master Redis Cluster', async (t) => {
  const cluster = await startRedisCluster({ t });
  await burst(t, () => connectCluster(cluster.nodes), '3-master cluster, ¥0.50 cap');
});
