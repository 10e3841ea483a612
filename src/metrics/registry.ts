import { picoToUnits, picoToUsd, USD } from '../core/money.ts';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { feedBilled, feedRequests, feedTokens, ModelHistogram, RequestSeries } from './series.ts';
import { labelCaps } from './labels.ts';
import type { MeterMetrics, ScrapeSources } from './types.ts';

export type { MeterMetrics, ScrapeSources } from './types.ts';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/**
 * How each gauge is combined across workers (workers/: one /metrics for all of them; counters
 * and histograms are summed). `sum`: a share of something each worker holds (its journal, its
 * buffered bodies, its waiting requests). `max`: a value every worker reads from the shared
 * store or the config (budget state, limits, windows); each worker exports what it saw last,
 * so the largest is the freshest while spend only grows in a window. Projections come from the
 * one worker that runs the forecast loop, so `max` is its value. `min` for store_up: 0 when
 * any worker cannot reach the store. prom-client's process and nodejs metrics keep their own.
 */
const AGG = {
  journalRecords: 'sum',
  bodiesBuffered: 'sum',
  batchSpooled: 'sum',
  budgetSpent: 'max',
  budgetReserved: 'max',
  budgetLimit: 'max',
  budgetOvershoot: 'max',
  budgetSpentAmount: 'max',
  budgetReservedAmount: 'max',
  budgetLimitAmount: 'max',
  budgetOvershootAmount: 'max',
  budgetQueueDepth: 'sum',
  budgetSettlesPending: 'sum',
  projected: 'max',
  projectedAmount: 'max',
  exhaustion: 'max',
  forecastError: 'max',
  budgetWindow: 'max',
  storeUp: 'min',
  usageSemantics: 'max',
  reconcileCapture: 'max',
  reconcileLastCheck: 'max',
} as const satisfies Partial<Record<keyof MeterMetrics, 'sum' | 'max' | 'min' | 'first' | 'average' | 'omit'>>;

/** Values per capped label (model, upstream, key_id, tag, budget_instance) when the config does not say. */
export const DEFAULT_MAX_LABEL_VALUES = 500;

export function createMetrics(opts: {
  keyLabel: boolean;
  tagLabel: boolean;
  defaultMetrics: boolean;
  maxLabelValues?: number;
}): MeterMetrics {
  const registry = new Registry();
  const registers = [registry];
  const requestLabels = ['model', 'upstream', 'status', ...(opts.keyLabel ? ['key_id'] : []), ...(opts.tagLabel ? ['tag'] : [])];
  const costPicoByModel = new Map<string, bigint>();
  const cacheSavingsPicoByModel = new Map<string, bigint>();
  const budgetSettledPico: MeterMetrics['budgetSettledPico'] = new Map();
  const series = new RequestSeries(LATENCY_BUCKETS, TTFT_BUCKETS);
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'claude_meter_' });
  let sources: ScrapeSources | null = null;
  const labelOverflow = new Counter({
    name: 'claude_meter_label_overflow_total',
    help: 'Observations exported under the label value `other`: the label already had metrics.max_label_values values, or a request refused as bad (4xx but 429) brought a value with no place yet',
    labelNames: ['label'],
    registers,
  });
  const metrics: MeterMetrics = {
    registry,
    bindSources(s) {
      if (sources !== null) throw new Error('metric sources are bound already');
      sources = s;
    },
    keyLabel: opts.keyLabel,
    tagLabel: opts.tagLabel,
    labels: labelCaps(opts.maxLabelValues ?? DEFAULT_MAX_LABEL_VALUES, (label) => labelOverflow.inc({ label })),
    labelOverflow,
    costPicoByModel,
    cacheSavingsPicoByModel,
    budgetSettledPico,
    budgetCurrencies: new Map(),
    series,
    requests: new Counter({
      name: 'claude_meter_requests_total',
      help: 'Requests handled, by model, upstream and HTTP status returned to the client',
      labelNames: requestLabels,
      registers,
      collect() {
        feedRequests(this, series);
      },
    }),
    tokens: new Counter({
      name: 'claude_meter_tokens_total',
      help: 'Tokens metered, by model, upstream and kind (input, output, cache_creation_5m, cache_creation_1h, cache_read)',
      labelNames: ['model', 'upstream', 'kind'],
      registers,
      collect() {
        feedTokens(this, series);
      },
    }),
    requestDuration: new ModelHistogram({
      name: 'claude_meter_request_duration_seconds',
      help: 'Time from request arrival to the last byte sent to the client',
      series,
      bounds: LATENCY_BUCKETS,
      pick: (s) => s.duration,
      registry,
    }),
    ttft: new ModelHistogram({
      name: 'claude_meter_time_to_first_token_seconds',
      help: 'Time from request arrival to the first response body byte',
      series,
      bounds: TTFT_BUCKETS,
      pick: (s) => s.ttft,
      registry,
    }),
    upstreamErrors: new Counter({
      name: 'claude_meter_upstream_errors_total',
      help: 'Upstream failures: unreachable, timeout, cut mid-body, 5xx, error events mid-stream',
      labelNames: ['reason'],
      registers,
    }),
    usageMissing: new Counter({
      name: 'claude_meter_usage_missing_total',
      help: 'Requests recorded without billable usage, by reason (never counted as $0 silently)',
      labelNames: ['reason'],
      registers,
    }),
    unpriced: new Counter({
      name: 'claude_meter_unpriced_requests_total',
      help: 'Requests whose model has no price: their cost is unknown, not zero',
      labelNames: ['model'],
      registers,
    }),
    partial: new Counter({
      name: 'claude_meter_partial_requests_total',
      help: 'Requests recorded with the usage seen before the stream ended early',
      labelNames: ['model'],
      registers,
    }),
    storeRecords: new Counter({
      name: 'claude_meter_store_records_total',
      help: 'Request records by store outcome: written, journaled (store down), replayed, dropped (journal full)',
      labelNames: ['event'],
      registers,
    }),
    journalRecords: new Gauge({
      name: 'claude_meter_store_journal_records',
      help: 'Records held locally while the store is unreachable',
      registers,
      aggregator: AGG.journalRecords,
      collect() {
        this.set(sources?.journalDepth() ?? 0);
      },
    }),
    batchLines: new Counter({
      name: 'claude_meter_batch_result_lines_total',
      help: 'Message Batches result lines read, by outcome: recorded (succeeded, counted now), counted_before (another download counted it), free (errored, canceled, expired), malformed, unrecorded (the batch store was unreachable)',
      labelNames: ['outcome'],
      registers,
    }),
    batchHolds: new Counter({
      name: 'claude_meter_batch_holds_total',
      help: 'Message Batches budget holds ended, by how: released (results read whole), spent_unseen (expired with no results read: spent at its estimate), discarded (the create was refused or not remembered)',
      labelNames: ['outcome'],
      registers,
    }),
    bodiesRefused: new Counter({
      name: 'claude_meter_request_bodies_refused_total',
      help: 'Requests answered 503 unread: the request bodies in flight already held limits.max_buffered_request_bytes (in memory) or limits.max_spooled_batch_bytes (batch creates in temporary files)',
      registers,
    }),
    bodiesBuffered: new Gauge({
      name: 'claude_meter_request_body_buffered_bytes',
      help: 'Request body bytes held in memory by the requests in flight (capped by limits.max_buffered_request_bytes)',
      registers,
      aggregator: AGG.bodiesBuffered,
      collect() {
        this.set(sources?.bufferedBodyBytes?.() ?? 0);
      },
    }),
    batchSpooled: new Gauge({
      name: 'claude_meter_batch_spooled_bytes',
      help: 'Message Batches create bytes reserved for temporary files across the creates in flight (capped by limits.max_spooled_batch_bytes; a declared length is reserved whole at its first byte)',
      registers,
      aggregator: AGG.batchSpooled,
      collect() {
        this.set(sources?.spooledBatchBytes?.() ?? 0);
      },
    }),
    // Budget amounts twice: in the budget's currency with a `currency` label (every budget), and
    // the `_usd` families of old (USD budgets only, so a yuan budget never reads as dollars).
    budgetSpent: new Gauge({
      name: 'claude_meter_budget_spent_usd',
      help: 'Settled spend of a USD budget instance in its current window (budgets in another currency: claude_meter_budget_spent)',
      labelNames: ['budget', 'budget_instance'],
      registers,
      aggregator: AGG.budgetSpent,
    }),
    budgetReserved: new Gauge({
      name: 'claude_meter_budget_reserved_usd',
      help: 'Spend reserved by requests in flight on a USD budget instance (any currency: claude_meter_budget_reserved)',
      labelNames: ['budget', 'budget_instance'],
      registers,
      aggregator: AGG.budgetReserved,
    }),
    budgetLimit: new Gauge({
      name: 'claude_meter_budget_limit_usd',
      help: 'Configured USD limit of a budget instance (a limit in another currency: claude_meter_budget_limit)',
      labelNames: ['budget', 'budget_instance'],
      registers,
      aggregator: AGG.budgetLimit,
    }),
    budgetOvershoot: new Gauge({
      name: 'claude_meter_budget_overshoot_usd',
      help: 'How far settled spend exceeds the limit of a USD budget (0 when within); bounded by in-flight underestimates, see README',
      labelNames: ['budget', 'budget_instance'],
      registers,
      aggregator: AGG.budgetOvershoot,
    }),
    budgetSpentAmount: new Gauge({
      name: 'claude_meter_budget_spent',
      help: "Settled spend of a budget instance in its current window, in the budget's currency (label currency)",
      labelNames: ['budget', 'budget_instance', 'currency'],
      registers,
      aggregator: AGG.budgetSpentAmount,
    }),
    budgetReservedAmount: new Gauge({
      name: 'claude_meter_budget_reserved',
      help: "Spend reserved by requests in flight on a budget instance, in the budget's currency",
      labelNames: ['budget', 'budget_instance', 'currency'],
      registers,
      aggregator: AGG.budgetReservedAmount,
    }),
    budgetLimitAmount: new Gauge({
      name: 'claude_meter_budget_limit',
      help: 'Configured spend limit of a budget instance, in its currency (limit_usd counts as USD)',
      labelNames: ['budget', 'budget_instance', 'currency'],
      registers,
      aggregator: AGG.budgetLimitAmount,
    }),
    budgetOvershootAmount: new Gauge({
      name: 'claude_meter_budget_overshoot',
      help: "How far settled spend exceeds the limit (0 when within), in the budget's currency",
      labelNames: ['budget', 'budget_instance', 'currency'],
      registers,
      aggregator: AGG.budgetOvershootAmount,
    }),
    budgetReservationRatio: new Histogram({
      name: 'claude_meter_budget_reservation_ratio',
      help: 'Settled cost divided by the reserved (expected) cost, per request: above 1 is an underestimate',
      labelNames: ['budget'],
      buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 5, 10],
      registers,
    }),
    budgetShadowRefusals: new Counter({
      name: 'claude_meter_budget_shadow_refusals_total',
      help: 'Requests a shadow budget would have refused (forwarded anyway)',
      labelNames: ['budget'],
      registers,
    }),
    budgetStoreErrors: new Counter({
      name: 'claude_meter_budget_store_errors_total',
      help: 'Admissions that could not reach the budget store, by what on_store_error did (allowed, refused)',
      labelNames: ['budget', 'outcome'],
      registers,
    }),
    budgetRefusals: new Counter({
      name: 'claude_meter_budget_refusals_total',
      help: 'Requests a budget answered 429, one count each, by cause: exhausted, nearly_exhausted (less left than it needs), in_flight (fits but for reservations in flight, after waiting), paced',
      labelNames: ['budget', 'cause'],
      registers,
    }),
    budgetAdmissionWait: new Histogram({
      name: 'claude_meter_budget_admission_wait_seconds',
      help: 'Time requests waited for in-flight reservations to settle, by outcome (admitted, refused, left, store_error)',
      labelNames: ['budget', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    budgetQueueDepth: new Gauge({
      name: 'claude_meter_budget_admission_queue_depth',
      help: 'Requests waiting in this proxy for in-flight reservations of a budget to settle',
      labelNames: ['budget'],
      registers,
      aggregator: AGG.budgetQueueDepth,
    }),
    budgetSettlesPending: new Gauge({
      name: 'claude_meter_budget_settles_pending',
      help: 'Budget settlements waiting for the budget store to come back',
      registers,
      aggregator: AGG.budgetSettlesPending,
      collect() {
        this.set(sources?.settlesPending() ?? 0);
      },
    }),
    alerts: new Counter({
      name: 'claude_meter_alerts_total',
      help: 'Alert webhook deliveries by result (sent, retried, failed)',
      labelNames: ['result'],
      registers,
    }),
    projected: new Gauge({
      name: 'claude_meter_budget_projected_usd',
      help: 'Projected end-of-window spend of a USD budget instance, by quantile (p10, p50, p90)',
      labelNames: ['budget', 'budget_instance', 'quantile'],
      registers,
      aggregator: AGG.projected,
    }),
    projectedAmount: new Gauge({
      name: 'claude_meter_budget_projected',
      help: "Projected end-of-window spend of a budget instance, by quantile (p10, p50, p90), in the budget's currency",
      labelNames: ['budget', 'budget_instance', 'quantile', 'currency'],
      registers,
      aggregator: AGG.projectedAmount,
    }),
    exhaustion: new Gauge({
      name: 'claude_meter_budget_exhaustion_seconds',
      help: 'Seconds until the p50 projection reaches the limit (absent when it does not within the window)',
      labelNames: ['budget', 'budget_instance'],
      registers,
      aggregator: AGG.exhaustion,
    }),
    forecastError: new Gauge({
      name: 'claude_meter_forecast_error',
      help: 'Rolling mean absolute percentage error of past p50 projections (at 25/50/75% of each window) against the final spend',
      labelNames: ['budget'],
      registers,
      aggregator: AGG.forecastError,
    }),
    throttled: new Counter({
      name: 'claude_meter_throttled_requests_total',
      help: 'Requests paced by a throttle budget or a spike: refused with retry-after, or delayed then admitted',
      labelNames: ['budget', 'priority', 'outcome'],
      registers,
    }),
    spikes: new Counter({
      name: 'claude_meter_spike_alerts_total',
      help: 'Spend spikes detected (recent rate above the configured multiple of the forecast band)',
      labelNames: ['budget'],
      registers,
    }),
    cost: new Counter({
      name: 'claude_meter_cost_usd_total',
      help: 'Metered cost at list price in USD, by model (summed exactly in pico-USD, converted once at scrape)',
      labelNames: ['model'],
      registers,
      collect() {
        // Summing floats per request drifts; we keep exact integers and export the
        // nearest double of the exact total on every scrape.
        this.reset();
        for (const [model, pico] of costPicoByModel) this.inc({ model }, picoToUsd(pico));
      },
    }),
    billed: new Counter({
      name: 'claude_meter_billed_cost_total',
      help: "What the upstreams bill, in units of each upstream's currency, by upstream, model and currency (summed exactly in pico-units, converted once at scrape); claude_meter_cost_usd_total is the list price in USD",
      labelNames: ['model', 'upstream', 'currency'],
      registers,
      collect() {
        feedBilled(this, series);
      },
    }),
    billedUnpriced: new Counter({
      name: 'claude_meter_billed_unpriced_requests_total',
      help: 'Requests with usage that their upstream bills at no known price (no own price row, no list price factor): the billed amount is unknown, not zero',
      labelNames: ['model', 'upstream'],
      registers,
    }),
    usageAdjusted: new Counter({
      name: 'claude_meter_usage_adjusted_total',
      help: 'Responses whose usage was reported inconsistently and clamped so no count is negative (e.g. cached tokens above the prompt total), by upstream and reason',
      labelNames: ['upstream', 'reason'],
      registers,
    }),
    cacheSavings: new Counter({
      name: 'claude_meter_cache_savings_usd_total',
      help: 'USD saved by prompt-cache reads, by model: their price at the input rate minus at the cache-read rate (exact in pico-USD)',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const [model, pico] of cacheSavingsPicoByModel) this.inc({ model }, picoToUsd(pico));
      },
    }),
    budgetSettled: new Counter({
      name: 'claude_meter_budget_settled_usd_total',
      help: 'USD this proxy settled against a USD budget instance: a counter for burn rates (sum over proxies), unlike budget_spent_usd which restarts each window',
      labelNames: ['budget', 'budget_instance'],
      registers,
      collect() {
        this.reset();
        for (const s of budgetSettledPico.values())
          if (s.currency === USD) this.inc({ budget: s.budget, budget_instance: s.instance }, picoToUsd(s.pico));
      },
    }),
    budgetSettledAmount: new Counter({
      name: 'claude_meter_budget_settled_total',
      help: "Spend this proxy settled against a budget instance, in the budget's currency: a counter for burn rates (sum over proxies)",
      labelNames: ['budget', 'budget_instance', 'currency'],
      registers,
      collect() {
        this.reset();
        for (const s of budgetSettledPico.values())
          this.inc({ budget: s.budget, budget_instance: s.instance, currency: s.currency }, picoToUnits(s.pico));
      },
    }),
    budgetWindow: new Gauge({
      name: 'claude_meter_budget_window_seconds',
      help: 'Length of the current window of a budget instance (a calendar day is 23-25 h across DST): limit / window is the even pace',
      labelNames: ['budget', 'budget_instance'],
      registers,
      aggregator: AGG.budgetWindow,
    }),
    storeUp: new Gauge({
      name: 'claude_meter_store_up',
      help: 'Whether the metering store answers (1) or not (0): Redis PING at scrape time; always 1 for the in-memory store',
      registers,
      aggregator: AGG.storeUp,
      async collect() {
        this.set(sources === null || (await sources.storeReachable()) ? 1 : 0);
      },
    }),
    usageSemantics: new Gauge({
      name: 'claude_meter_usage_semantics',
      help: '1 per upstream: what its OpenAI-format prompt_tokens is read as (semantics: openai counts cached tokens inside it, anthropic does not) and whether its own responses proved it (proven="true") or it is assumed; a usage_semantics fixed in the config reads proven="false"',
      labelNames: ['upstream', 'semantics', 'proven'],
      registers,
      aggregator: AGG.usageSemantics,
      collect() {
        // Rebuilt from the live config at each scrape, so a reload's removed or renamed upstream
        // leaves no series; that bounds it by the config, and no label cap applies (a cap counts
        // observations, and a scrape is not one).
        this.reset();
        for (const u of sources?.usageSemantics?.() ?? [])
          this.set({ upstream: u.upstream, semantics: u.semantics, proven: String(u.proven) }, 1);
      },
    }),
    reconcileCapture: new Gauge({
      name: 'claude_meter_reconcile_capture_ratio',
      help: "Reconciliation with Anthropic's usage report (config reconcile): what the proxy metered ÷ what Anthropic reports, by list price, per model, over the last complete hours; below 1: traffic bypassing the proxy, or a metering gap",
      labelNames: ['model'],
      registers,
      aggregator: AGG.reconcileCapture,
    }),
    reconcileLastCheck: new Gauge({
      name: 'claude_meter_reconcile_last_check_timestamp_seconds',
      help: 'When the reconciliation check the capture ratios come from ran (Unix seconds); one proxy of the deployment checks, every proxy exports the same',
      registers,
      aggregator: AGG.reconcileLastCheck,
    }),
    reconcileChecks: new Counter({
      name: 'claude_meter_reconcile_checks_total',
      help: "This proxy's reconciliation ticks: checked (it read Anthropic's report), adopted (another proxy's check), failed (the read failed; the ratios keep their last values)",
      labelNames: ['outcome'],
      registers,
    }),
  };
  return metrics;
}
