/**
 * Budget metrics and alerts in a budget's own currency: every budget's amounts in the
 * currency-labelled families (claude_meter_budget_spent{currency}, ...), USD budgets also in the
 * `_usd` families of old, and a yuan budget never in a `_usd` family; its alerts in yuan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { budgetEvents } from '../../../src/compose/budget-events.ts';
import { forecastEvents } from '../../../src/compose/forecast-events.ts';
import type { AlertEvent } from '../../../src/alerts/types.ts';
import type { BudgetConfig, InstanceRef } from '../../../src/budget/types.ts';
import type { InstanceForecast } from '../../../src/forecast/service.ts';
import { budgetCurrency } from '../../../src/budget/catalog.ts';
import { budget } from '../../helpers/budget-config.ts';

const T0 = Date.UTC(2026, 10, 27);
const U = 1e12;
const window = { id: '2026-11-27', start: T0, end: T0 + 86_400_000, segmentMs: 86_400_000, rollingMs: null };
const dollars = budget({ name: 'dollars', limit_usd: 10 });
const yuan = budget({ name: 'yuan', limit: 3000, currency: 'CNY' });
const ref = (b: BudgetConfig, limit: number): InstanceRef => ({
  budget: b.name,
  instance: '*',
  limitPico: limit * U,
  limitTokens: null,
  currency: budgetCurrency(b),
  enforce: true,
  window,
});
const st = (spent: number, reserved = 0) => ({ spentPico: spent * U, reservedPico: reserved * U, spentTokens: 0, reservedTokens: 0 });

/** `name{labels} value` lines of the budget families for one budget. */
function lines(text: string, budgetName: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('claude_meter_budget_') && l.includes(`budget="${budgetName}"`))
    .filter((l) => !/_(window_seconds|reservation_ratio|exhaustion_seconds)/.test(l))
    .sort();
}

function setup() {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  const alerts: AlertEvent[] = [];
  const be = budgetEvents(
    metrics,
    (e) => void alerts.push(e),
    () => T0,
  );
  const fe = forecastEvents(metrics, (e) => void alerts.push(e));
  return { metrics, alerts, be, fe };
}

function forecast(b: BudgetConfig, r: InstanceRef, p: [number, number, number]): InstanceForecast {
  return {
    budget: b,
    ref: r,
    spentPico: 0,
    reservedPico: 0,
    status: 'computed',
    path: {
      budget: b.name,
      instance: r.instance,
      windowId: window.id,
      windowStart: window.start,
      windowEnd: window.end,
      fittedAt: T0,
      method: 'level',
      coldStart: false,
      knots: [],
    },
    live: {
      p10: p[0] * U,
      p50: p[1] * U,
      p90: p[2] * U,
      exhaustionAt: null,
      exhaustionEarliest: null,
      exhaustionLatest: null,
      rateP50: 0,
      rateP90: 0,
    },
    pacedRate: null,
    updatedAt: T0,
  };
}

test('a USD budget: the currency-labelled families and the _usd ones, with the same amounts', async () => {
  const { metrics, be, fe } = setup();
  be.onStates?.([dollars], [ref(dollars, 10)], [st(12, 0.5)]);
  be.onSpent?.(dollars, ref(dollars, 10), 2 * U);
  fe.onForecast?.(forecast(dollars, ref(dollars, 10), [11, 13, 15]));
  assert.deepEqual(lines(await metrics.registry.metrics(), 'dollars'), [
    'claude_meter_budget_limit_usd{budget="dollars",budget_instance="*"} 10',
    'claude_meter_budget_limit{budget="dollars",budget_instance="*",currency="USD"} 10',
    'claude_meter_budget_overshoot_usd{budget="dollars",budget_instance="*"} 2',
    'claude_meter_budget_overshoot{budget="dollars",budget_instance="*",currency="USD"} 2',
    'claude_meter_budget_projected_usd{budget="dollars",budget_instance="*",quantile="p10"} 11',
    'claude_meter_budget_projected_usd{budget="dollars",budget_instance="*",quantile="p50"} 13',
    'claude_meter_budget_projected_usd{budget="dollars",budget_instance="*",quantile="p90"} 15',
    'claude_meter_budget_projected{budget="dollars",budget_instance="*",quantile="p10",currency="USD"} 11',
    'claude_meter_budget_projected{budget="dollars",budget_instance="*",quantile="p50",currency="USD"} 13',
    'claude_meter_budget_projected{budget="dollars",budget_instance="*",quantile="p90",currency="USD"} 15',
    'claude_meter_budget_reserved_usd{budget="dollars",budget_instance="*"} 0.5',
    'claude_meter_budget_reserved{budget="dollars",budget_instance="*",currency="USD"} 0.5',
    'claude_meter_budget_settled_total{budget="dollars",budget_instance="*",currency="USD"} 2',
    'claude_meter_budget_settled_usd_total{budget="dollars",budget_instance="*"} 2',
    'claude_meter_budget_spent_usd{budget="dollars",budget_instance="*"} 12',
    'claude_meter_budget_spent{budget="dollars",budget_instance="*",currency="USD"} 12',
  ]);
});

test('a yuan budget: only the currency-labelled families, in yuan; nothing in a _usd family', async () => {
  const { metrics, be, fe } = setup();
  be.onStates?.([yuan], [ref(yuan, 3000)], [st(2400, 25)]);
  be.onSpent?.(yuan, ref(yuan, 3000), 71 * U);
  fe.onForecast?.(forecast(yuan, ref(yuan, 3000), [2800, 3100, 3500]));
  assert.deepEqual(lines(await metrics.registry.metrics(), 'yuan'), [
    'claude_meter_budget_limit{budget="yuan",budget_instance="*",currency="CNY"} 3000',
    'claude_meter_budget_overshoot{budget="yuan",budget_instance="*",currency="CNY"} 0',
    'claude_meter_budget_projected{budget="yuan",budget_instance="*",quantile="p10",currency="CNY"} 2800',
    'claude_meter_budget_projected{budget="yuan",budget_instance="*",quantile="p50",currency="CNY"} 3100',
    'claude_meter_budget_projected{budget="yuan",budget_instance="*",quantile="p90",currency="CNY"} 3500',
    'claude_meter_budget_reserved{budget="yuan",budget_instance="*",currency="CNY"} 25',
    'claude_meter_budget_settled_total{budget="yuan",budget_instance="*",currency="CNY"} 71',
    'claude_meter_budget_spent{budget="yuan",budget_instance="*",currency="CNY"} 2400',
  ]);
});

test('a reload that changes the currency drops the old series; a dropped instance loses the labelled ones too', async () => {
  const { metrics, be, fe } = setup();
  const before = budget({ name: 'team', limit_usd: 400 });
  const after = budget({ name: 'team', limit: 3000, currency: 'CNY' });
  be.onStates?.([before], [ref(before, 400)], [st(100)]);
  be.onSpent?.(before, ref(before, 400), 100 * U);
  fe.onForecast?.(forecast(before, ref(before, 400), [1, 2, 3]));
  be.onStates?.([after], [ref(after, 3000)], [st(700)]);
  be.onSpent?.(after, ref(after, 3000), 5 * U);
  fe.onForecast?.(forecast(after, ref(after, 3000), [4, 5, 6]));
  let text = await metrics.registry.metrics();
  assert.deepEqual(
    lines(text, 'team').filter((l) => l.includes('USD') || /_usd/.test(l)),
    [],
    'no dollar series left',
  );
  assert.match(
    text,
    /^claude_meter_budget_settled_total\{budget="team",budget_instance="\*",currency="CNY"\} 5$/m,
    'yuan never add to dollars',
  );
  assert.match(text, /^claude_meter_budget_spent\{budget="team",budget_instance="\*",currency="CNY"\} 700$/m);
  be.onDropped?.([after], [ref(after, 3000)]);
  text = await metrics.registry.metrics();
  assert.deepEqual(
    lines(text, 'team'),
    ['claude_meter_budget_settled_total{budget="team",budget_instance="*",currency="CNY"} 5'],
    'gauges gone, the counter stays',
  );
});

test('threshold and spike alerts of a yuan budget: in yuan, its currency named, no dollar amounts', () => {
  const { alerts, be, fe } = setup();
  be.onThreshold?.(yuan, ref(yuan, 3000), 0.8, st(2412.5));
  be.onThreshold?.(dollars, ref(dollars, 10), 0.5, st(5));
  fe.onSpike?.({ budget: yuan, instance: '*', ratePerHourPico: 852 * U, expectedPerHourPico: 21.3 * U, offender: {}, at: T0 });
  const [y, d, spike] = alerts as [AlertEvent, AlertEvent, AlertEvent];
  assert.ok(y.kind === 'budget_threshold' && d.kind === 'budget_threshold' && spike.kind === 'spend_spike');
  assert.deepEqual([y.currency, y.spent, y.limit, y.spent_usd, y.limit_usd], ['CNY', 2412.5, 3000, null, null]);
  assert.deepEqual([d.currency, d.spent, d.limit, d.spent_usd, d.limit_usd], ['USD', 5, 10, 5, 10]);
  assert.deepEqual(
    [spike.currency, spike.rate_per_hour, spike.expected_per_hour, spike.rate_usd_per_hour, spike.expected_usd_per_hour],
    ['CNY', 852, 21.3, null, null],
  );
});
