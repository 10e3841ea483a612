/**
 * GET /_meter/budgets and /_meter/forecast in a budget's currency: `currency` and the
 * currency-neutral amounts for every budget; the `*_usd` fields equal to them for a USD budget
 * and null for a yuan budget (yuan are never read as dollars).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetCatalog, budgetCurrency } from '../../../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import type { BudgetConfig, InstanceRef } from '../../../src/budget/types.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import type { InstanceForecast } from '../../../src/forecast/service.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { budgetRow, budgetsReport } from '../../../src/report/budgets.ts';
import { forecastRow } from '../../../src/report/forecasts.ts';
import { budget } from '../../helpers/budget-config.ts';

const U = 1e12;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 27, 12);
const window = { id: '2026-11-27', start: Date.UTC(2026, 10, 27), end: Date.UTC(2026, 10, 28), segmentMs: 86_400_000, rollingMs: null };
const yuan = budget({ name: 'yuan', limit: 3000, currency: 'CNY', alert_at: [0.8] });
const dollars = budget({ name: 'dollars', limit_usd: 10, alert_at: [0.8] });
const ref = (b: BudgetConfig, limit: number | null): InstanceRef => ({
  budget: b.name,
  instance: '*',
  window,
  limitPico: limit === null ? null : limit * U,
  limitTokens: null,
  currency: budgetCurrency(b),
  enforce: true,
});
const st = (spent: number, reserved = 0) => ({ spentPico: spent * U, reservedPico: reserved * U, spentTokens: 0, reservedTokens: 0 });

test('a yuan row: its amounts in yuan, its currency named, every *_usd field null', () => {
  const row = budgetRow(yuan, ref(yuan, 3000), st(2400, 12.5));
  assert.deepEqual(
    {
      currency: row.currency,
      limit: row.limit,
      spent: row.spent,
      reserved: row.reserved,
      remaining: row.remaining,
      status: row.status,
    },
    { currency: 'CNY', limit: 3000, spent: 2400, reserved: 12.5, remaining: 587.5, status: 'warning' },
  );
  assert.deepEqual([row.limit_usd, row.spent_usd, row.reserved_usd, row.remaining_usd], [null, null, null, null]);
});

test('a USD row: the *_usd fields keep their meaning and equal the neutral ones', () => {
  const row = budgetRow(dollars, ref(dollars, 10), st(4, 1));
  assert.deepEqual([row.currency, row.limit, row.spent, row.reserved, row.remaining, row.status], ['USD', 10, 4, 1, 5, 'ok']);
  assert.deepEqual([row.limit_usd, row.spent_usd, row.reserved_usd, row.remaining_usd], [10, 4, 1, 5]);
  const tokensOnly = budget({ name: 'tokens', limit_tokens: 1000 });
  const t = budgetRow(tokensOnly, { ...ref(tokensOnly, null), limitTokens: 1000 }, st(0.5));
  assert.deepEqual([t.currency, t.limit, t.limit_usd, t.spent, t.spent_usd], ['USD', null, null, 0.5, 0.5], 'token-only budgets count USD');
});

test('budgetsReport through the catalog and a ledger: each row names its budget currency and holds what its ledger holds', async () => {
  const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
  const catalog = new BudgetCatalog([dollars, yuan], () => pricer);
  const ledger = new MemoryBudgetStore();
  for (const b of [dollars, yuan]) await ledger.settle([catalog.instanceRef(b, '*', T0)], `r-${b.name}`, [{ pico: 7 * U, tokens: 10 }], T0);
  const rows = await budgetsReport({ catalog, ledger }, T0);
  const [d, y] = rows;
  assert.ok(d && y);
  assert.deepEqual([d.budget, d.currency, d.spent, d.spent_usd, d.limit_usd], ['dollars', 'USD', 7, 7, 10]);
  assert.deepEqual(
    [y.budget, y.currency, y.spent, y.spent_usd, y.reserved_usd, y.limit_usd, y.remaining_usd],
    ['yuan', 'CNY', 7, null, null, null, null],
  );
  const limit = catalog.instanceRef(yuan, '*', T0).limitPico;
  assert.equal(y.limit, limit === null ? null : limit / U, "the limit is the catalog's, in yuan");
});

function forecast(b: BudgetConfig, limit: number, pacedPerHour: number | null): InstanceForecast {
  return {
    budget: b,
    ref: ref(b, limit),
    spentPico: 2400 * U,
    reservedPico: 10 * U,
    status: 'computed',
    path: {
      budget: b.name,
      instance: '*',
      windowId: window.id,
      windowStart: window.start,
      windowEnd: window.end,
      fittedAt: T0,
      method: 'level',
      coldStart: false,
      knots: [],
    },
    live: {
      p10: 2900 * U,
      p50: 3100 * U,
      p90: 3300 * U,
      exhaustionAt: T0 + 6 * HOUR,
      exhaustionEarliest: T0 + 4 * HOUR,
      exhaustionLatest: null,
      rateP50: 0,
      rateP90: 0,
    },
    pacedRate: pacedPerHour === null ? null : (pacedPerHour * U) / HOUR,
    updatedAt: T0,
  };
}

test('a forecast row: projections and pacing in the budget currency; *_usd only for USD budgets', () => {
  const y = forecastRow(forecast(yuan, 3000, 125), T0);
  assert.deepEqual(
    [y['currency'], y['limit'], y['spent'], y['reserved'], y['projected'], y['pacing_per_hour']],
    ['CNY', 3000, 2400, 10, { p10: 2900, p50: 3100, p90: 3300 }, 125],
  );
  assert.deepEqual(
    [y['limit_usd'], y['spent_usd'], y['reserved_usd'], y['projected_usd'], y['pacing_usd_per_hour']],
    [null, null, null, null, null],
  );
  const d = forecastRow(forecast(dollars, 3000, 125), T0);
  assert.deepEqual(
    [d['currency'], d['limit_usd'], d['spent_usd'], d['projected_usd'], d['pacing_usd_per_hour']],
    ['USD', 3000, 2400, { p10: 2900, p50: 3100, p90: 3300 }, 125],
  );
  assert.equal(d['exhaustion_in_s'], 6 * 3600);
  // The forecaster's belief that the level moved (issue #21), false unless the path says so.
  assert.equal(d['level_changed'], false);
  const moved = forecast(dollars, 3000, 125);
  assert.ok(moved.path !== null, 'a computed forecast has a path');
  assert.equal(forecastRow({ ...moved, path: { ...moved.path, levelChanged: true } } as InstanceForecast, T0)['level_changed'], true);
});
