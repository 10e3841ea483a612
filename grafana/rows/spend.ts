/** Rows "Spend" and "Tokens and cache": what the traffic costs, per model, and what the prompt cache saves. */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { M, statPanel, tablePanel, ts } from '../lib.ts';

const rate = (m: string, extra = ''): string => `sum by (model) (rate(${m}{${M}${extra}}[$__rate_interval]))`;
const inRange = (m: string, extra = ''): string => `sum by (model) (increase(${m}{${M}${extra}}[$__range]))`;
const OK = ', status=~"2.."';
const CACHE_READ = ', kind="cache_read"';
const PROMPT = ', kind=~"input|cache_read|cache_creation_5m|cache_creation_1h"';

export function spendRow(): Array<cog.Builder<dashboard.Panel>> {
  return [
    ts(
      {
        title: 'Spend rate by model (USD per hour)',
        description:
          'Metered cost per hour, stacked by model: rate(claude_meter_cost_usd_total) × 3600. Exact pico-USD sums, converted at scrape; unpriced models have no cost series.',
        unit: 'currencyUSD',
        w: 9,
        queries: [{ expr: `${rate('claude_meter_cost_usd_total')} * 3600`, legend: '{{model}}' }],
      },
      { stack: true, min: 0 },
    ),
    ts(
      {
        title: 'Cost per request',
        description:
          'Spend per successful (2xx) response, by model: rate(claude_meter_cost_usd_total) / rate(claude_meter_requests_total{status=~"2.."}). ' +
          'Unpriced models drop out (they have no cost series).',
        unit: 'currencyUSD',
        w: 9,
        queries: [
          { expr: `${rate('claude_meter_cost_usd_total')} / (${rate('claude_meter_requests_total', OK)} > 0)`, legend: '{{model}}' },
        ],
      },
      { min: 0 },
    ),
    statPanel({
      title: 'Spend in the time range',
      description:
        'Total metered cost over the dashboard time range: increase(claude_meter_cost_usd_total[$__range]), all selected models.',
      unit: 'currencyUSD',
      w: 6,
      h: 8,
      queries: [{ expr: 'sum(increase(claude_meter_cost_usd_total{' + M + '}[$__range]))', legend: 'spent', instant: true }],
    }),
    tablePanel(
      {
        title: 'Per-model summary (time range)',
        description:
          'One row per model over the dashboard time range: requests (claude_meter_requests_total), spend (claude_meter_cost_usd_total), spend per 2xx ' +
          'response, tokens of every kind (claude_meter_tokens_total), the cache-read share of prompt tokens, USD saved by cache reads ' +
          '(claude_meter_cache_savings_usd_total), p95 request duration (claude_meter_request_duration_seconds) and the share of non-2xx answers.',
        unit: 'short',
        queries: [
          { expr: inRange('claude_meter_requests_total') },
          { expr: inRange('claude_meter_cost_usd_total') },
          { expr: `${inRange('claude_meter_cost_usd_total')} / (${inRange('claude_meter_requests_total', OK)} > 0)` },
          { expr: inRange('claude_meter_tokens_total') },
          { expr: `${inRange('claude_meter_tokens_total', CACHE_READ)} / (${inRange('claude_meter_tokens_total', PROMPT)} > 0)` },
          { expr: inRange('claude_meter_cache_savings_usd_total') },
          { expr: `histogram_quantile(0.95, sum by (model, le) (rate(claude_meter_request_duration_seconds_bucket{${M}}[$__range])))` },
          {
            expr:
              `(${inRange('claude_meter_requests_total', ', status!~"2.."')} or ${inRange('claude_meter_requests_total')} * 0) / ` +
              `(${inRange('claude_meter_requests_total')} > 0)`,
          },
        ].map((q) => ({ ...q, instant: true, format: 'table' as const })),
      },
      'model',
      [
        { name: 'Requests', unit: 'short' },
        { name: 'Spend', unit: 'currencyUSD' },
        { name: 'USD per 2xx request', unit: 'currencyUSD' },
        { name: 'Tokens', unit: 'short' },
        { name: 'Cache-read share', unit: 'percentunit' },
        { name: 'Saved by cache', unit: 'currencyUSD' },
        { name: 'p95 duration', unit: 's' },
        { name: 'Non-2xx share', unit: 'percentunit' },
      ],
    ),
    ts(
      {
        title: 'Billed by upstream (per hour, in its currency)',
        description:
          'What each upstream bills per hour, in units of its own currency, by upstream and currency: rate(claude_meter_billed_cost_total) × 3600. ' +
          'Amounts in different currencies are never added; the spend panels above are the list price in USD (claude_meter_cost_usd_total).',
        unit: 'short',
        w: 12,
        queries: [
          {
            expr: `sum by (upstream, currency) (rate(claude_meter_billed_cost_total{${M}}[$__rate_interval])) * 3600`,
            legend: '{{upstream}} {{currency}}',
          },
        ],
      },
      { min: 0 },
    ),
    statPanel({
      title: 'Billed in the time range, by upstream',
      description:
        'What each upstream billed over the dashboard time range, in units of its currency (one value per upstream and currency): ' +
        'increase(claude_meter_billed_cost_total[$__range]).',
      unit: 'short',
      w: 12,
      h: 8,
      queries: [
        {
          expr: `sum by (upstream, currency) (increase(claude_meter_billed_cost_total{${M}}[$__range]))`,
          legend: '{{upstream}} {{currency}}',
          instant: true,
        },
      ],
    }),
  ];
}

export function tokensRow(): Array<cog.Builder<dashboard.Panel>> {
  return [
    ts(
      {
        title: 'Tokens per second by kind',
        description:
          'Tokens metered per second, stacked by kind (input, output, cache_creation_5m, cache_creation_1h, cache_read): rate(claude_meter_tokens_total).',
        unit: 'suffix: tok/s',
        queries: [{ expr: `sum by (kind) (rate(claude_meter_tokens_total{${M}}[$__rate_interval]))`, legend: '{{kind}}' }],
      },
      { stack: true, min: 0 },
    ),
    ts(
      {
        title: 'Cache-read share of prompt tokens',
        description:
          'Prompt tokens served from the cache, by model: cache_read over input + cache writes + cache reads (claude_meter_tokens_total).',
        unit: 'percentunit',
        w: 6,
        queries: [
          {
            expr: `${rate('claude_meter_tokens_total', CACHE_READ)} / (${rate('claude_meter_tokens_total', PROMPT)} > 0)`,
            legend: '{{model}}',
          },
        ],
      },
      { min: 0, max: 1 },
    ),
    ts(
      {
        title: 'Saved by cache reads (USD per hour)',
        description:
          'What cache reads would have cost at the input rate minus what they cost at the cache-read rate, per hour, by model: ' +
          'rate(claude_meter_cache_savings_usd_total) × 3600, priced from the same dated table as the bill (batch and geo multipliers included).',
        unit: 'currencyUSD',
        w: 6,
        queries: [{ expr: `${rate('claude_meter_cache_savings_usd_total')} * 3600`, legend: '{{model}}' }],
      },
      { stack: true, min: 0 },
    ),
  ];
}
