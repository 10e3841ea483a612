/** Rows "Latency", "Reliability" and "Data quality": how the proxy and the upstream behave, and whether the numbers can be trusted. */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { M, T, heatmapPanel, statPanel, ts } from '../lib.ts';

const R = `${M}, tag=~"$tag"`;
const q3 = (h: string) =>
  ['0.5', '0.95', '0.99'].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (le) (rate(${h}_bucket{${M}}[$__rate_interval])))`,
    legend: `p${Number(q) * 100}`,
  }));
const classes: Array<[string, string]> = [
  ['status=~"2.."', '2xx'],
  ['status=~"4..", status!="429"', '4xx (not 429)'],
  ['status="429"', '429 rate limited (budget or upstream)'],
  ['status=~"5..", status!="529"', '5xx (not 529)'],
  ['status="529"', '529 overloaded'],
];

function upDownMappings(up: string, down: string): dashboard.ValueMapping[] {
  return [
    {
      type: dashboard.MappingType.ValueToText,
      options: { '1': { text: up, color: 'green', index: 0 }, '0': { text: down, color: 'red', index: 1 } },
    },
  ];
}

export function latencyRow(): Array<cog.Builder<dashboard.Panel>> {
  return [
    ts({
      title: 'Request duration p50 / p95 / p99',
      description:
        'From request arrival to the last byte sent to the client (streams included), selected models: claude_meter_request_duration_seconds.',
      unit: 's',
      queries: q3('claude_meter_request_duration_seconds'),
    }),
    ts({
      title: 'Time to first token p50 / p95 / p99',
      description: 'From request arrival to the first response body byte: claude_meter_time_to_first_token_seconds.',
      unit: 's',
      queries: q3('claude_meter_time_to_first_token_seconds'),
    }),
    heatmapPanel({
      title: 'Request duration heatmap',
      description: 'Requests per duration bucket in each interval: claude_meter_request_duration_seconds.',
      unit: 's',
      queries: [
        {
          expr: `sum by (le) (increase(claude_meter_request_duration_seconds_bucket{${M}}[$__rate_interval]))`,
          legend: '{{le}}',
          format: 'heatmap',
        },
      ],
    }),
    heatmapPanel({
      title: 'Time to first token heatmap',
      description: 'Requests per time-to-first-token bucket in each interval: claude_meter_time_to_first_token_seconds.',
      unit: 's',
      queries: [
        {
          expr: `sum by (le) (increase(claude_meter_time_to_first_token_seconds_bucket{${M}}[$__rate_interval]))`,
          legend: '{{le}}',
          format: 'heatmap',
        },
      ],
    }),
  ];
}

export function reliabilityRow(): Array<cog.Builder<dashboard.Panel>> {
  return [
    ts(
      {
        title: 'Requests by status class',
        description:
          'Requests answered per second by the status the client got, with 429 (our budgets or the upstream rate limit) and 529 (upstream overloaded) ' +
          'apart: claude_meter_requests_total, filtered by model and tag (the tag label needs metrics.tag_label).',
        unit: 'reqps',
        queries: classes.map(([m, legend]) => ({ expr: `sum(rate(claude_meter_requests_total{${R}, ${m}}[$__rate_interval]))`, legend })),
      },
      {
        stack: true,
        min: 0,
        byName: [['429 rate limited (budget or upstream)', [{ id: 'color', value: { mode: 'fixed', fixedColor: 'orange' } }]]],
      },
    ),
    ts(
      {
        title: 'Error ratio by model',
        description:
          'Share of requests answered with a non-2xx status, by model (a model whose every request failed still shows): claude_meter_requests_total.',
        unit: 'percentunit',
        queries: [
          {
            expr:
              `(sum by (model) (rate(claude_meter_requests_total{${R}, status!~"2.."}[$__rate_interval])) or sum by (model) (rate(claude_meter_requests_total{${R}}[$__rate_interval])) * 0)` +
              ` / (sum by (model) (rate(claude_meter_requests_total{${R}}[$__rate_interval])) > 0)`,
            legend: '{{model}}',
          },
        ],
      },
      { min: 0, max: 1 },
    ),
    ts({
      title: 'Upstream errors by reason',
      description:
        'Upstream failures per second: unreachable, status_<5xx code> (status_529: overloaded), stream_error_event (an error event mid-stream): claude_meter_upstream_errors_total.',
      unit: 'reqps',
      w: 8,
      queries: [{ expr: `sum by (reason) (rate(claude_meter_upstream_errors_total{${T}}[$__rate_interval]))`, legend: '{{reason}}' }],
    }),
    ts({
      title: 'Partial responses',
      description:
        'Requests recorded with the usage seen before the stream ended early (client gone, upstream cut, error event), by model: claude_meter_partial_requests_total.',
      unit: 'reqps',
      w: 8,
      queries: [{ expr: `sum by (model) (rate(claude_meter_partial_requests_total{${M}}[$__rate_interval]))`, legend: '{{model}}' }],
    }),
    statPanel(
      {
        title: 'Spend spikes',
        description:
          'Empty in a healthy system: spikes detected in the time range, by budget (claude_meter_spike_alerts_total): the last minutes ran above the ' +
          "configured multiple of the forecast's p90 rate.",
        unit: 'short',
        w: 4,
        queries: [
          {
            expr: `sum by (budget) (increase(claude_meter_spike_alerts_total{${T}, budget=~"$budget"}[$__range]))`,
            legend: '{{budget}}',
            instant: true,
          },
        ],
      },
      { noValue: 'none' },
    ),
    statPanel(
      {
        title: 'Alert webhook deliveries',
        description:
          'Threshold and spike alert webhooks in the time range by result (sent, retried, failed): claude_meter_alerts_total. Only with alerts.webhook_url set.',
        unit: 'short',
        w: 4,
        queries: [{ expr: `sum by (result) (increase(claude_meter_alerts_total{${T}}[$__range]))`, legend: '{{result}}', instant: true }],
      },
      { noValue: 'none' },
    ),
  ];
}

export function dataQualityRow(): Array<cog.Builder<dashboard.Panel>> {
  return [
    ts({
      title: 'Usage missing by reason',
      description:
        'Requests recorded without billable usage, per second, by reason (error_status, refused_by_budget, no_usage_field, stream_incomplete, ...): ' +
        'claude_meter_usage_missing_total. Never counted as $0 silently.',
      unit: 'reqps',
      w: 8,
      queries: [{ expr: `sum by (reason) (rate(claude_meter_usage_missing_total{${T}}[$__rate_interval]))`, legend: '{{reason}}' }],
    }),
    ts({
      title: 'Unpriced requests by model',
      description:
        'Requests whose model has no price in the table: their cost is unknown, not zero (add the model under pricing): claude_meter_unpriced_requests_total.',
      unit: 'reqps',
      w: 8,
      queries: [{ expr: `sum by (model) (rate(claude_meter_unpriced_requests_total{${M}}[$__rate_interval]))`, legend: '{{model}}' }],
    }),
    ts({
      title: 'Store records by outcome',
      description:
        'Request records per second by what the store did: written, journaled (store down), replayed, dropped (journal full), write_failed: claude_meter_store_records_total.',
      unit: 'reqps',
      w: 8,
      queries: [{ expr: `sum by (event) (rate(claude_meter_store_records_total{${T}}[$__rate_interval]))`, legend: '{{event}}' }],
    }),
    ts({
      title: 'Journal backlog',
      description:
        'Records held in memory while Redis is unreachable (claude_meter_store_journal_records) and budget settlements waiting for the budget store ' +
        '(claude_meter_budget_settles_pending), per proxy. 0 when Redis is healthy.',
      unit: 'short',
      w: 8,
      queries: [
        { expr: `sum by (instance) (claude_meter_store_journal_records{${T}})`, legend: '{{instance}} journal' },
        { expr: `sum by (instance) (claude_meter_budget_settles_pending{${T}})`, legend: '{{instance}} settles pending' },
      ],
    }),
    statPanel(
      {
        title: 'Redis reachable',
        description:
          'Whether each proxy reaches its store (claude_meter_store_up: a Redis PING at scrape time; always 1 for the in-memory store).',
        unit: 'none',
        w: 4,
        queries: [{ expr: `min by (instance) (claude_meter_store_up{${T}})`, legend: '{{instance}}' }],
      },
      {
        mappings: upDownMappings('reachable', 'unreachable'),
        steps: [
          [null, 'red'],
          [1, 'green'],
        ],
      },
    ),
    statPanel(
      {
        title: 'Scrape up',
        description: "Prometheus's own up metric for each claude-meter target: 0 means the proxy did not answer the last scrape.",
        unit: 'none',
        w: 4,
        queries: [{ expr: 'up{job=~"$job", instance=~"$instance"}', legend: '{{instance}}' }],
      },
      {
        mappings: upDownMappings('up', 'down'),
        steps: [
          [null, 'red'],
          [1, 'green'],
        ],
      },
    ),
    ts({
      title: 'Budget store errors',
      description:
        'Empty in a healthy system: admissions that could not reach the budget store, by budget and what on_store_error did (allowed, refused): ' +
        'claude_meter_budget_store_errors_total.',
      unit: 'reqps',
      w: 8,
      queries: [
        {
          expr: `sum by (budget, outcome) (rate(claude_meter_budget_store_errors_total{${T}, budget=~"$budget"}[$__rate_interval]))`,
          legend: '{{budget}} {{outcome}}',
        },
      ],
    }),
    ts({
      title: 'Label values folded into other',
      description:
        'Observations exported as `other` because a capped label (model, upstream, key_id, tag, budget_instance, adjusted_reason) already had metrics.max_label_values values, ' +
        'or a request refused as bad brought a new one: claude_meter_label_overflow_total. Empty in a healthy system; growing steadily: raise the cap or turn a label off.',
      unit: 'ops',
      w: 8,
      queries: [{ expr: `sum by (label) (rate(claude_meter_label_overflow_total{${T}}[$__rate_interval]))`, legend: '{{label}}' }],
    }),
    ts({
      title: 'Request bodies held',
      description:
        'Request body bytes held by the requests in flight, per proxy: in memory (claude_meter_request_body_buffered_bytes, capped by limits.max_buffered_request_bytes) and reserved for Message Batches creates in temporary files (claude_meter_batch_spooled_bytes, capped by limits.max_spooled_batch_bytes; a declared length is reserved whole at its first byte).',
      unit: 'bytes',
      w: 8,
      queries: [
        { expr: `sum by (instance) (claude_meter_request_body_buffered_bytes{${T}})`, legend: 'memory {{instance}}' },
        { expr: `sum by (instance) (claude_meter_batch_spooled_bytes{${T}})`, legend: 'files {{instance}}' },
      ],
    }),
    ts({
      title: 'Request bodies refused',
      description:
        'Empty unless a cap is reached: requests answered 503 unread because the bodies in flight held limits.max_buffered_request_bytes, ' +
        'or batch creates in temporary files limits.max_spooled_batch_bytes (claude_meter_request_bodies_refused_total).',
      unit: 'reqps',
      w: 8,
      queries: [
        { expr: `sum by (instance) (rate(claude_meter_request_bodies_refused_total{${T}}[$__rate_interval]))`, legend: '{{instance}}' },
      ],
    }),
    ts({
      title: 'Billed at no known price, by upstream',
      description:
        'Requests with usage that their upstream bills at no known price (no price row of its own, no list_price_factor), by upstream and model: ' +
        'the billed amount is unknown, not zero (claude_meter_billed_unpriced_requests_total).',
      unit: 'reqps',
      w: 12,
      queries: [
        {
          expr: `sum by (upstream, model) (rate(claude_meter_billed_unpriced_requests_total{${M}}[$__rate_interval]))`,
          legend: '{{upstream}} {{model}}',
        },
      ],
    }),
    ts({
      title: 'Usage adjusted by reason',
      description:
        'Empty in a healthy system: responses whose usage an upstream reported inconsistently (e.g. cached tokens above the prompt total) and that were ' +
        'recorded clamped so no count is negative, by upstream and reason: claude_meter_usage_adjusted_total.',
      unit: 'reqps',
      w: 12,
      queries: [
        {
          expr: `sum by (upstream, reason) (rate(claude_meter_usage_adjusted_total{${T}}[$__rate_interval]))`,
          legend: '{{upstream}} {{reason}}',
        },
      ],
    }),
    ts({
      title: 'Capture ratio by model',
      description:
        "Empty unless reconcile.enabled: what the proxy metered divided by what Anthropic's usage report says, by list price, per model, over the last complete hours " +
        '(claude_meter_reconcile_capture_ratio, docs/reconcile.md). 100%: every token Anthropic served passed through the proxy; below: traffic bypassing it, or a metering gap.',
      unit: 'percentunit',
      w: 12,
      queries: [{ expr: `min by (model) (claude_meter_reconcile_capture_ratio{${M}})`, legend: '{{model}}' }],
    }),
    ts({
      title: 'Reconciliation checks',
      description:
        "Each proxy's reconciliation ticks per second by outcome: checked (it read Anthropic's report), adopted (another proxy's check), failed " +
        '(claude_meter_reconcile_checks_total). Empty unless reconcile.enabled; failed growing: the Admin API read fails (the log says why).',
      unit: 'ops',
      w: 8,
      queries: [{ expr: `sum by (outcome) (rate(claude_meter_reconcile_checks_total{${T}}[$__rate_interval]))`, legend: '{{outcome}}' }],
    }),
    statPanel(
      {
        title: 'Age of the last reconciliation check',
        description:
          'Seconds since the check the capture ratios come from ran (claude_meter_reconcile_last_check_timestamp_seconds): about a minute when reconciliation works; ' +
          'ClaudeMeterReconcileStale fires past 30 minutes. Empty unless reconcile.enabled.',
        unit: 's',
        w: 4,
        queries: [{ expr: `time() - max(claude_meter_reconcile_last_check_timestamp_seconds{${T}})`, legend: 'age' }],
      },
      {
        steps: [
          [null, 'green'],
          [900, 'orange'],
          [1800, 'red'],
        ],
      },
    ),
    ts({
      title: 'Message Batches result lines',
      description:
        'Result lines of Message Batches downloads read per second, by outcome (claude_meter_batch_result_lines_total): recorded (succeeded, counted now), ' +
        'counted_before (another download or proxy counted it), free (errored, canceled, expired), malformed, unrecorded (the batch store was unreachable: ' +
        'a later download records them). Batch holds ended, by outcome (claude_meter_batch_holds_total): released, spent_unseen (expired with no results ' +
        'read: spent at the estimate), discarded. Empty in a healthy system that sends no Message Batches.',
      unit: 'ops',
      w: 24,
      queries: [
        { expr: `sum by (outcome) (rate(claude_meter_batch_result_lines_total{${T}}[$__rate_interval]))`, legend: 'lines {{outcome}}' },
        { expr: `sum by (outcome) (rate(claude_meter_batch_holds_total{${T}}[$__rate_interval]))`, legend: 'holds {{outcome}}' },
      ],
    }),
    statPanel(
      {
        title: 'Usage semantics by upstream',
        description:
          "How each upstream's OpenAI-format prompt_tokens is read (openai: cached tokens counted inside it; anthropic: not) and whether its own responses " +
          'proved it on any proxy, or it is not proven: assumed (openai until proven), or fixed by usage_semantics in the config. ' +
          'A relay read the wrong way bills cache reads twice: claude_meter_usage_semantics.',
        unit: 'none',
        w: 24,
        h: 5,
        queries: [
          {
            expr:
              `max by (upstream, semantics) (claude_meter_usage_semantics{${T}, proven="true"})` +
              ` or max by (upstream, semantics) (claude_meter_usage_semantics{${T}}) * 0`,
            legend: '{{upstream}}: {{semantics}}',
          },
        ],
      },
      {
        mappings: [
          {
            type: dashboard.MappingType.ValueToText,
            options: { '1': { text: 'proven', color: 'green', index: 0 }, '0': { text: 'not proven', color: 'orange', index: 1 } },
          },
        ],
      },
    ),
  ];
}
