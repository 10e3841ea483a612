/**
 * Pacing does not act on a projection that is not computed (issue #21, part 2): a throttle
 * budget on a fresh deployment, the gate and forecaster wired as the proxy wires them
 * (compose/budgets.ts) on memory stores and a ManualClock. While the forecast has nothing to
 * project from, every request is admitted and the pacing source has no rate; once the first
 * update with spend projects far past the limit, the same traffic is paced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wireBudgets } from '../../../src/compose/budgets.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { listBiller } from '../../../src/pricing/billing.ts';
import { ExchangeRates } from '../../../src/core/currency.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import type { GateRequest } from '../../../src/budget/gate.ts';
import { emptyUsage } from '../../../src/core/usage.ts';
import { billedCost } from '../../../src/budget/cost.ts';
import { budget } from '../../helpers/budget-config.ts';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
const START = Date.parse('2026-12-07T10:33:00Z');

test('an uncomputed projection does not pace; the first computed one past the limit does', async () => {
  const clock = new ManualClock(START);
  const store = new MemoryBudgetStore();
  // $0.05 a day: 30 requests of $0.0009 in a minute project to ~$0.7 by midnight.
  const b = budget({
    name: 'daily',
    limit_usd: 0.05,
    window: 'day',
    action: 'throttle',
    throttle: { mode: 'reject', max_delay_ms: 10_000, burst_s: 60 },
  });
  const paced: string[] = [];
  const w = wireBudgets({
    budgets: [b],
    forecast: () => DEFAULTS.forecast,
    store,
    meter: new MemoryStore({ clock, bucketTtlSeconds: 86_400, recordsMaxLen: 10 }),
    pricer: () => pricer,
    rates: () => new ExchangeRates(),
    clock,
    logger: silentLogger,
    gateEvents: { onThrottled: (_b, _p, outcome) => paced.push(outcome) },
  });
  const biller = listBiller(pricer);
  const actual = billedCost(biller.bill('claude-haiku-4-5', { ...emptyUsage(), input: 400, output: 100 }, { at: START, betas: [] }), 500);
  const send = async (i: number) => {
    const req: GateRequest = {
      id: `r${i}`,
      keyId: 'k',
      tag: '',
      model: 'claude-haiku-4-5',
      path: '/v1/messages',
      upstream: 'default',
      biller,
      bytes: 1600,
      maxTokens: 200,
      betas: [],
    };
    const a = await w.gate.admit(req);
    if (a.kind === 'admitted') await w.gate.settle(a, req.id, actual);
    return a.kind === 'refused' ? a.refusal.kind : a.kind;
  };

  await w.forecasts.update(clock.now()); // the loop's first update: nothing spent, no history
  assert.equal(w.forecasts.get('daily', '*')?.status, 'no_spend_yet');
  const before: string[] = [];
  for (let i = 0; i < 30; i++) {
    before.push(await send(i));
    await clock.advance(1000);
  }
  assert.deepEqual(new Set(before), new Set(['admitted']), 'nothing paced while the projection is not computed');
  assert.deepEqual(paced, []);
  assert.equal(w.forecasts.rate('daily', '*'), null, 'the pacing source has no rate for it');

  await w.forecasts.update(clock.now());
  const f = w.forecasts.get('daily', '*');
  assert.ok(f?.status === 'computed' && f.live.p50 > 0.5e12, `computed, far past the $0.05 limit: ${f?.live?.p50}`);
  assert.ok((w.forecasts.rate('daily', '*') ?? 0) > 0, 'a paced rate');
  const after: string[] = [];
  for (let i = 30; i < 40; i++) {
    after.push(await send(i));
    await clock.advance(1000);
  }
  assert.ok(after.includes('paced'), `the same traffic is paced once computed: ${after.join(',')}`);
});
