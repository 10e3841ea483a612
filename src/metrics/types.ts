import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelHistogram, RequestSeries } from './series.ts';
import type { LabelCaps } from './labels.ts';

/** Values other components own, read when /metrics is scraped. */
export interface ScrapeSources {
  /** Records in the Recorder's journal (claude_meter_store_journal_records). */
  journalDepth(): number;
  /** Budget settlements waiting for the budget store (claude_meter_budget_settles_pending). */
  settlesPending(): number;
  /** Whether the metering store answers (claude_meter_store_up). */
  storeReachable(): Promise<boolean>;
  /** Request body bytes held by the requests in flight (claude_meter_request_body_buffered_bytes). */
  bufferedBodyBytes?(): number;
  spooledBatchBytes?(): number;
  /** Each upstream of the config in force and its OpenAI-format usage reading now (claude_meter_usage_semantics). */
  usageSemantics?(): ReadonlyArray<{ upstream: string; semantics: string; proven: boolean }>;
}

/**
 * Every metric object, on one Registry that the composition root owns. Never the
 * prom-client global registry: two apps in one process (tests, `simulate`) must not collide.
 */
export interface MeterMetrics {
  registry: Registry;
  keyLabel: boolean;
  tagLabel: boolean;
  /** The values each client-named label has taken so far, capped (labels.ts). */
  labels: LabelCaps;
  /** Folds into `other`, by label. */
  labelOverflow: Counter<'label'>;
  /** Requests, tokens, latency, TTFT and billed amounts by upstream and model, counted per request here and exported at scrape (series.ts). */
  series: RequestSeries;
  requests: Counter<string>;
  tokens: Counter<'model' | 'kind'>;
  requestDuration: ModelHistogram;
  ttft: ModelHistogram;
  upstreamErrors: Counter<'reason'>;
  usageMissing: Counter<'reason'>;
  unpriced: Counter<'model'>;
  partial: Counter<'model'>;
  /** List price in USD. */
  cost: Counter<'model'>;
  /** What the upstreams bill, in units of their currency; fed at scrape from RequestSeries (billedPico). */
  billed: Counter<string>;
  billedUnpriced: Counter<'model' | 'upstream'>;
  usageAdjusted: Counter<'upstream' | 'reason'>;
  /** By Recorder outcome; the label is named `event`. */
  storeRecords: Counter<'event'>;
  journalRecords: Gauge;
  /** Requests answered 503 because the bodies in flight held limits.max_buffered_request_bytes. */
  bodiesRefused: Counter;
  /** Message Batches result lines by outcome (recorded, counted_before, free, malformed, unrecorded). */
  batchLines: Counter;
  /** Message Batches budget holds ended, by outcome (released, spent_unseen, discarded). */
  batchHolds: Counter;
  bodiesBuffered: Gauge;
  batchSpooled: Gauge;
  budgetSpent: Gauge<'budget' | 'budget_instance'>;
  budgetReserved: Gauge<'budget' | 'budget_instance'>;
  budgetLimit: Gauge<'budget' | 'budget_instance'>;
  budgetOvershoot: Gauge<'budget' | 'budget_instance'>;
  /** The four above in the budget's currency, for every budget (the `_usd` ones: USD budgets only). */
  budgetSpentAmount: Gauge<'budget' | 'budget_instance' | 'currency'>;
  budgetReservedAmount: Gauge<'budget' | 'budget_instance' | 'currency'>;
  budgetLimitAmount: Gauge<'budget' | 'budget_instance' | 'currency'>;
  budgetOvershootAmount: Gauge<'budget' | 'budget_instance' | 'currency'>;
  budgetReservationRatio: Histogram<'budget'>;
  budgetShadowRefusals: Counter<'budget'>;
  budgetStoreErrors: Counter<'budget' | 'outcome'>;
  /** Every refusal by cause (exhausted, nearly_exhausted, in_flight, paced). */
  budgetRefusals: Counter<'budget' | 'cause'>;
  /** Waits for in-flight reservations, by how they ended (admitted, refused, left, store_error). */
  budgetAdmissionWait: Histogram<'budget' | 'outcome'>;
  budgetQueueDepth: Gauge<'budget'>;
  budgetSettlesPending: Gauge;
  alerts: Counter<'result'>;
  projected: Gauge<'budget' | 'budget_instance' | 'quantile'>;
  projectedAmount: Gauge<'budget' | 'budget_instance' | 'quantile' | 'currency'>;
  exhaustion: Gauge<'budget' | 'budget_instance'>;
  forecastError: Gauge<'budget'>;
  throttled: Counter<'budget' | 'priority' | 'outcome'>;
  spikes: Counter<'budget'>;
  /** Exact cost per model label in pico-USD; exported as USD by the counter's collect(). */
  costPicoByModel: Map<string, bigint>;
  /**
   * Hands the scrape-time gauges their sources, once: the composition root calls it after
   * building the Recorder and the settle queue, which themselves report into these metrics.
   * Until then both gauges read 0.
   */
  bindSources(sources: ScrapeSources): void;
  // For the dashboard and alert rules (grafana/, prometheus/): savings, burn rates, store reachability.
  cacheSavings: Counter<'model'>;
  /** Exact cache savings per model label in pico-USD, exported like the cost. */
  cacheSavingsPicoByModel: Map<string, bigint>;
  budgetSettled: Counter<'budget' | 'budget_instance'>;
  budgetSettledAmount: Counter<'budget' | 'budget_instance' | 'currency'>;
  /**
   * The currency each budget instance's amount gauges are exported in, key `budget\0instance`:
   * a reload that changes a budget's currency removes the old series. An entry lives as long as
   * the instance's place in the budget_instance cap.
   */
  budgetCurrencies: Map<string, string>;
  /** Exact spend settled per budget instance by this proxy, in pico-units of the budget's currency; key `budget\0instance`. */
  budgetSettledPico: Map<string, { budget: string; instance: string; currency: string; pico: bigint }>;
  budgetWindow: Gauge<'budget' | 'budget_instance'>;
  storeUp: Gauge;
  /** 1 per upstream: what its OpenAI-format prompt_tokens is read as, and whether its responses proved it. */
  usageSemantics: Gauge<'upstream' | 'semantics' | 'proven'>;
  /** Reconciliation (config reconcile): ours ÷ Anthropic's by list price, per model, over the last complete hours. */
  reconcileCapture: Gauge<'model'>;
  /** When the check those ratios come from ran (epoch seconds). */
  reconcileLastCheck: Gauge;
  /** This proxy's ticks: it checked, adopted another proxy's check, or failed to read. */
  reconcileChecks: Counter<'outcome'>;
}
