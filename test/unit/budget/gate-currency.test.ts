/**
 * The gate with budgets in another currency than the traffic is billed in: a ¥ budget sees
 * USD-billed requests through USD_CNY 7.1 (and a $ budget sees ¥-billed ones through its
 * inverse), exactly and half to even, in its reservations, refusals, waiting, pacing, settles
 * and refused-demand history. On a ManualClock with the memory ledger.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetGate, type Admission, type GateRequest } from '../../../src/budget/gate.ts';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { listBiller } from '../../../src/pricing/billing.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import type { Amount, BudgetConfig, Cost } from '../../../src/budget/types.ts';
import { ExchangeRates } from '../../../src/core/currency.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import type { Biller } from '../../../src/pricing/types.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { HOUR_MS } from '../../../src/core/time.ts';
import { budget } from '../../helpers/budget-config.ts';
import { factorBiller, halfEven } from '../../helpers/billers.ts';
import { recordingLogger } from '../../helpers/start-proxy.ts';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
const USD_LIST = listBiller(pricer);
const CNY_AT_LIST = factorBiller(pricer, 'CNY');
const RATES = new ExchangeRates({ USD_CNY: 7.1 });
const T0 = Date.UTC(2026, 10, 2, 12);

const req = (id: string, biller: Biller = USD_LIST, model = 'claude-haiku-4-5'): GateRequest => ({
  id,
  keyId: 'k',
  tag: '',
  model,
  path: '/v1/messages',
  upstream: 'default',
  biller,
  bytes: 400,
  maxTokens: 100,
  betas: [],
});
const usdCost = (pico: number, tokens = 10): Cost => ({ money: { currency: 'USD', pico }, tokens });
const toCny = (usdPico: number): number => halfEven(usdPico, 71n, 10n);
const toUsd = (cnyPico: number): number => halfEven(cnyPico, 10n, 71n);

/** What one USD-billed request is expected to cost, in pico-USD (the estimator is cold and deterministic). */
function estimate(): number {
  const probe = new BudgetGate({
    catalog: new BudgetCatalog([], () => pricer),
    ledger: new MemoryBudgetStore(),
    buckets: new MemoryBudgetStore(),
    pricer: () => pricer,
    clock: new ManualClock(T0),
    logger: silentLogger,
  });
  const e = probe.expected(req('probe'));
  assert.equal(e.money?.currency, 'USD');
  return e.money?.pico ?? 0;
}
const P = estimate();

function setup(
  budgets: BudgetConfig[],
  opts: { rates?: () => ExchangeRates; pacing?: (budget: string) => number | null; logger?: ReturnType<typeof recordingLogger> } = {},
) {
  const clock = new ManualClock(T0);
  const store = new MemoryBudgetStore();
  const spent: Array<[string, number]> = [];
  const refusals: string[] = [];
  const gate = new BudgetGate({
    catalog: new BudgetCatalog(budgets, () => pricer),
    ledger: store,
    buckets: store,
    pricer: () => pricer,
    rates: opts.rates ?? (() => RATES),
    clock,
    logger: opts.logger ?? silentLogger,
    ...(opts.pacing ? { pacing: { rate: opts.pacing, offenderRate: () => null } } : {}),
    events: { onSpent: (b, _ref, pico) => spent.push([b.name, pico]), onRefused: (_b, cause) => refusals.push(cause) },
  });
  const state = async (name: string) => {
    const b = budgets.find((x) => x.name === name) as BudgetConfig;
    const [st] = await store.state([gate.catalog.instanceRef(b, '*', clock.now())], clock.now());
    return st;
  };
  return { clock, store, gate, spent, refusals, state };
}

const cny = (limit: number, over: Partial<BudgetConfig> = {}) => budget({ name: 'cny', limit, currency: 'CNY', ...over });
const usd = budget({ name: 'usd', limit_usd: 1_000 });

function admitted(a: Admission): Extract<Admission, { kind: 'admitted' }> {
  assert.equal(a.kind, 'admitted', JSON.stringify(a));
  return a as Extract<Admission, { kind: 'admitted' }>;
}

test('a ¥ budget reserves and settles USD-billed traffic converted through USD_CNY 7.1, half to even', async () => {
  const { gate, spent, state } = setup([cny(1_000), usd]);
  const a = admitted(await gate.admit(req('a')));
  const tokens = a.expected.tokens;
  assert.deepEqual(a.expected, usdCost(P, tokens), 'the estimate, as the upstream bills it');
  assert.deepEqual(a.amounts, [
    { pico: toCny(P), tokens },
    { pico: P, tokens },
  ]);
  assert.deepEqual(await state('cny'), { spentPico: 0, reservedPico: toCny(P), spentTokens: 0, reservedTokens: tokens });
  // 1,000,000,005 × 7.1 = 7,100,000,035.5: a tie, to the even neighbour 7,100,000,036.
  await gate.settle(a, 'a', usdCost(1_000_000_005));
  assert.deepEqual(await state('cny'), { spentPico: 7_100_000_036, reservedPico: 0, spentTokens: 10, reservedTokens: 0 });
  assert.deepEqual(await state('usd'), { spentPico: 1_000_000_005, reservedPico: 0, spentTokens: 10, reservedTokens: 0 });
  assert.deepEqual(spent, [
    ['cny', 7_100_000_036],
    ['usd', 1_000_000_005],
  ]);
});

test('the ¥ budget refuses what does not fit in ¥ (with a 429) though the same number of pico-USD would; the demand is recorded in ¥', async () => {
  // The limit sits just under the request's ¥ amount, and far above its $ amount: only a converted check refuses.
  const limitPico = Math.floor((toCny(P) - 1) / 1e6) * 1e6;
  assert.ok(limitPico > 7 * P);
  const { gate, store, clock, refusals } = setup([cny(limitPico / 1e12), usd]);
  const r = await gate.admit(req('r'));
  assert.equal(r.kind, 'refused');
  if (r.kind !== 'refused') return;
  assert.equal(r.budget.name, 'cny');
  assert.equal(r.refusal.status, 429);
  assert.equal(r.refusal.cause, 'nearly_exhausted');
  assert.match(r.refusal.message, /budget 'cny'/);
  assert.deepEqual(refusals, ['nearly_exhausted']);
  const hour = clock.now() - (clock.now() % HOUR_MS);
  // Demand goes to the history of instances that have state or history: a settle gives the ¥ instance some.
  await store.settle([gate.catalog.instanceRef(cny(limitPico / 1e12), '*', clock.now())], 'seed', [{ pico: 1, tokens: 0 }], clock.now());
  await gate.admit(req('r2'));
  assert.deepEqual([...(await store.hourlySpend('cny', '*', hour, hour + HOUR_MS)).entries()], [[hour, 1 + toCny(P)]]);
});

test('a ¥-billed request (list price × 1 in CNY) counts unconverted on the ¥ budget and through CNY_USD = 10/71 on the $ budget', async () => {
  const { gate, state } = setup([cny(1_000), usd]);
  const a = admitted(await gate.admit(req('a', CNY_AT_LIST)));
  assert.equal(a.expected.money?.currency, 'CNY');
  assert.equal(a.expected.money?.pico, P, 'list price × 1, in ¥');
  assert.deepEqual(
    a.amounts.map((x) => x.pico),
    [P, toUsd(P)],
  );
  // 248 × 10 / 71 = 34.93 → 35; 71 × 10 / 71 = 10 exactly.
  await gate.settle(a, 'a', { money: { currency: 'CNY', pico: 248 }, tokens: 1 });
  assert.equal((await state('cny'))?.spentPico, 248);
  assert.equal((await state('usd'))?.spentPico, 35);
});

test('blocked only by in-flight reservations in ¥, a request waits and is admitted when a USD-billed settle frees room', async () => {
  const { gate, clock } = setup([cny(Math.floor((1.5 * toCny(P)) / 1e6) / 1e6, { admission: { max_wait_ms: 2_000, max_queue: 4 } })]);
  const first = admitted(await gate.admit(req('a')));
  let answered = false;
  const second = gate.admit(req('b')).then((a) => ((answered = true), a));
  await clock.advance(50);
  assert.equal(answered, false, 'it fits the ¥ limit without the reservation in flight: it waits');
  await gate.settle(first, 'a', usdCost(Math.round(P / 4)));
  assert.equal((await second).kind, 'admitted');
  await gate.close();
});

test('pacing a ¥ throttle budget takes ¥ from its bucket: a bucket holding one ¥ estimate admits one request', async () => {
  const b = cny(1_000, { action: 'throttle', throttle: { mode: 'reject', max_delay_ms: 0, burst_s: 1 } });
  // Refilling one ¥ estimate per second; the bucket holds one second of it. Taking pico-USD from it would admit 7.
  const { gate } = setup([b], { pacing: () => toCny(P) / 1000 });
  assert.equal((await gate.admit(req('a'))).kind, 'admitted');
  const second = await gate.admit(req('b'));
  assert.equal(second.kind, 'refused');
  assert.equal(second.kind === 'refused' ? second.refusal.cause : null, 'paced');
});

test('an unpriced bill reserves no money in any currency; tokens still count', async () => {
  const { gate } = setup([cny(1_000), usd]);
  const a = admitted(await gate.admit(req('a', USD_LIST, 'mystery-model-9')));
  assert.equal(a.expected.money, null);
  assert.deepEqual(
    a.amounts.map((x: Amount) => x.pico),
    [0, 0],
  );
  assert.ok(a.amounts.every((x) => x.tokens === a.expected.tokens && x.tokens > 0));
});

test('a rate gone by settle time (a reload racing the request) counts what the ref reserved, and is logged once', async () => {
  let rates = RATES;
  const logger = recordingLogger();
  const { gate, state } = setup([cny(1_000), usd], { rates: () => rates, logger });
  const a = admitted(await gate.admit(req('a')));
  const b = admitted(await gate.admit(req('b')));
  rates = new ExchangeRates();
  await gate.settle(a, 'a', usdCost(5));
  await gate.settle(b, 'b', usdCost(7));
  assert.equal((await state('cny'))?.spentPico, 2 * toCny(P), 'the ¥ reservations, never a guess and never 0');
  assert.equal((await state('usd'))?.spentPico, 12, 'the $ budget needs no rate');
  assert.deepEqual(
    logger.lines.filter((l) => l.level === 'error').map((l) => l.obj['pair']),
    ['USD_CNY'],
  );
});
