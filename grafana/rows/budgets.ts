/** Row "Budgets": where each budget instance stands in its window, and how the cap holds. */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { B, BC, BY_B, BY_BC, CURRENCY_CODES, DASHED, T, barGauge, color, currencyUnits, heatmapPanel, statPanel, ts } from '../lib.ts';

/** A money metric per budget instance, its currency kept (proxies combined with max). */
const by = (m: string): string => `max by (${BY_BC}) (${m}{${BC}})`;
const bq = 'budget=~"$budget"';

export function budgetsRow(): Array<cog.Builder<dashboard.Panel>> {
  return [
    ts(
      {
        title: 'Burn-down: $budget',
        description:
          "One panel per budget; per budget instance in its current window, in the budget's currency (the currency label, first in each " +
          'legend): the limit (claude_meter_budget_limit), settled spend (claude_meter_budget_spent), spend plus what requests in flight have ' +
          "reserved (claude_meter_budget_reserved), and the forecaster's projected end-of-window spend p10 / p50 / p90 " +
          '(claude_meter_budget_projected; spend budgets with calendar windows). ' +
          'The p10-p90 band is shaded for global budgets (budget_instance *), drawn as dashed lines for per-key, per-tag and per-model instances. ' +
          'Every proxy reports what it last read from the shared store, so proxies are combined with max.',
        unit: 'short',
        w: 12,
        h: 9,
        queries: [
          { expr: by('claude_meter_budget_limit'), legend: '{{currency}} {{budget_instance}} limit' },
          { expr: by('claude_meter_budget_spent'), legend: '{{currency}} {{budget_instance}} spent' },
          {
            expr: `${by('claude_meter_budget_spent')} + ${by('claude_meter_budget_reserved')}`,
            legend: '{{currency}} {{budget_instance}} spent + reserved',
          },
          ...['p10', 'p50', 'p90'].map((q) => ({
            expr: `max by (${BY_BC}) (claude_meter_budget_projected{${BC}, quantile="${q}"})`,
            legend: `{{currency}} {{budget_instance}} projected ${q}`,
          })),
        ],
      },
      {
        min: 0,
        byRegex: [
          ...currencyUnits(),
          ['/ limit$/', [...DASHED, color('red')]],
          ['/ projected p(10|90)$/', [...DASHED, color('purple')]],
          ['/ projected p50$/', [{ id: 'custom.lineStyle', value: { fill: 'dot', dash: [2, 6] } }, color('purple')]],
        ],
        // A global instance's band, for each currency a legend can start with.
        byName: CURRENCY_CODES.map((c): [string, dashboard.DynamicConfigValue[]] => [
          `${c} * projected p90`,
          [
            { id: 'custom.fillBelowTo', value: `${c} * projected p10` },
            { id: 'custom.fillOpacity', value: 15 },
          ],
        ]),
      },
    )
      .repeat('budget')
      .repeatDirection('h')
      .maxPerRow(2),
    barGauge(
      {
        title: 'Share of the limit used',
        description:
          "Settled spend over the limit of each budget instance in its current window, both in the budget's currency: " +
          'claude_meter_budget_spent / claude_meter_budget_limit. Orange from 80%, red from 95% (the alert thresholds).',
        unit: 'percentunit',
        w: 6,
        queries: [
          {
            expr: `${by('claude_meter_budget_spent')} / (${by('claude_meter_budget_limit')} > 0)`,
            legend: '{{budget}} {{budget_instance}}',
          },
        ],
      },
      [
        [null, 'green'],
        [0.8, 'orange'],
        [0.95, 'red'],
      ],
      { min: 0, max: 1 },
    ),
    statPanel(
      {
        title: 'Time to exhaustion',
        description:
          'Empty in a healthy system: claude_meter_budget_exhaustion_seconds exists only while the p50 projection reaches the limit before the window ends. ' +
          'Seconds until it does, per budget instance (0: exhausted).',
        unit: 's',
        w: 6,
        h: 9,
        queries: [{ expr: `min by (${BY_B}) (claude_meter_budget_exhaustion_seconds{${B}})`, legend: '{{budget}} {{budget_instance}}' }],
      },
      {
        steps: [
          [null, 'red'],
          [21_600, 'orange'],
          [86_400, 'green'],
        ],
        noValue: 'not within the window',
      },
    ),
    ts(
      {
        title: 'Burn factor',
        description:
          "Spend rate over the even pace, both in the budget's currency: rate(claude_meter_budget_settled_total) / " +
          '(claude_meter_budget_limit / claude_meter_budget_window_seconds). ' +
          '1 spends the limit exactly by the window end; the dashed lines at 6 and 14.4 are the slow and fast burn alert factors.',
        unit: 'suffix:×',
        queries: [
          {
            expr:
              `sum by (${BY_BC}) (rate(claude_meter_budget_settled_total{${BC}}[$__rate_interval])) / on (${BY_BC}) ` +
              `(max by (${BY_BC}) (claude_meter_budget_limit{${BC}} > 0) / on (${BY_B}) group_left max by (${BY_B}) (claude_meter_budget_window_seconds{${B}} > 0))`,
            legend: '{{budget}} {{budget_instance}}',
          },
        ],
      },
      {
        min: 0,
        lines: [
          [null, 'green'],
          [1, 'yellow'],
          [6, 'orange'],
          [14.4, 'red'],
        ],
      },
    ),
    ts({
      title: 'Refusals and throttled requests',
      description:
        'Every request a budget answered 429, by cause (claude_meter_budget_refusals_total: exhausted, nearly_exhausted, in_flight after waiting for ' +
        'reservations to settle, paced); paced by a throttle budget or a spike, refused with retry-after or delayed (claude_meter_throttled_requests_total, ' +
        'by priority and outcome); and what shadow budgets would have refused (claude_meter_budget_shadow_refusals_total; only with shadow budgets).',
      unit: 'reqps',
      queries: [
        {
          expr: `sum by (budget, cause) (rate(claude_meter_budget_refusals_total{${T}, ${bq}}[$__rate_interval]))`,
          legend: '{{budget}} refused: {{cause}}',
        },
        {
          expr: `sum by (budget, priority, outcome) (rate(claude_meter_throttled_requests_total{${T}, ${bq}}[$__rate_interval]))`,
          legend: '{{budget}} paced ({{priority}}, {{outcome}})',
        },
        {
          expr: `sum by (budget) (rate(claude_meter_budget_shadow_refusals_total{${T}, ${bq}}[$__rate_interval]))`,
          legend: '{{budget}} shadow: would refuse',
        },
      ],
    }),
    heatmapPanel({
      title: 'Reservation ratio (actual / reserved)',
      description:
        'Per settled request, its actual cost over the cost reserved at admission (claude_meter_budget_reservation_ratio): above 1 is an underestimate, ' +
        'the only way spend can pass a cap. Counts per bucket in each interval.',
      unit: 'short',
      w: 10,
      queries: [
        {
          expr: `sum by (le) (increase(claude_meter_budget_reservation_ratio_bucket{${T}, ${bq}}[$__rate_interval]))`,
          legend: '{{le}}',
          format: 'heatmap',
        },
      ],
    }),
    statPanel(
      {
        title: 'Overshoot',
        description:
          "How far settled spend went past the limit, in the budget's currency (claude_meter_budget_overshoot); 0 in a healthy system. " +
          'Only a request that cost more than its reservation can overshoot, bounded by the in-flight underestimates (see the reservation ratio).',
        unit: 'short',
        w: 4,
        queries: [{ expr: by('claude_meter_budget_overshoot'), legend: '{{currency}} {{budget}} {{budget_instance}}' }],
      },
      {
        steps: [
          [null, 'green'],
          [1e-6, 'red'],
        ],
        byRegex: currencyUnits(),
      },
    ),
    ts({
      title: 'Forecast error',
      description:
        'Empty in a healthy system until a budget window has closed: claude_meter_forecast_error is the mean absolute percentage error of the p50 ' +
        'projections taken at 25/50/75% of each past window against its final spend (last 10 windows).',
      unit: 'percent',
      w: 10,
      queries: [{ expr: `max by (budget) (claude_meter_forecast_error{${T}, ${bq}})`, legend: '{{budget}}' }],
    }),
    ts({
      title: 'Admission waits p95',
      description:
        'Empty in a healthy system until requests wait: a request that fits the limit but not the reservations in flight waits for them to settle ' +
        '(budgets[].admission). 95th percentile of claude_meter_budget_admission_wait_seconds by outcome (admitted, refused, left, store_error).',
      unit: 's',
      w: 8,
      queries: [
        {
          expr: `histogram_quantile(0.95, sum by (budget, outcome, le) (rate(claude_meter_budget_admission_wait_seconds_bucket{${T}, ${bq}}[$__rate_interval])))`,
          legend: '{{budget}} {{outcome}}',
        },
      ],
    }),
    ts({
      title: 'Waiting requests',
      description:
        'Empty in a healthy system until requests wait: requests each proxy holds for in-flight reservations to settle ' +
        '(claude_meter_budget_admission_queue_depth), summed over proxies.',
      unit: 'short',
      w: 6,
      queries: [{ expr: `sum by (budget) (claude_meter_budget_admission_queue_depth{${T}, ${bq}})`, legend: '{{budget}}' }],
    }),
  ];
}
