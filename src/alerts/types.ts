/**
 * Alerts the proxy sends to an operator's webhook (Slack-compatible). Plain JSON-able
 * data: the event is serialized as-is into the webhook body, so times are ISO strings.
 */

/** A budget instance crossed one of its `alert_at` fractions. */
export interface BudgetThresholdAlert {
  kind: 'budget_threshold';
  budget: string;
  /** Scope value: '*' for global, the key id, tag or model otherwise. */
  instance: string;
  window: { id: string; start: string; end: string };
  /** The crossed fraction of the limit, e.g. 0.8. */
  threshold: number;
  /** ISO 4217 code of `spent` and `limit`: the budget's currency (USD for `limit_usd` and token-only budgets). */
  currency: string;
  spent: number;
  /** null: the budget has no money limit. */
  limit: number | null;
  /** `spent` and `limit` again when `currency` is USD; null for a budget in another currency. */
  spent_usd: number | null;
  limit_usd: number | null;
  spent_tokens: number;
  limit_tokens: number | null;
  at: string;
}

/** Spend rate far above what the forecast expected. */
export interface SpendSpikeAlert {
  kind: 'spend_spike';
  budget: string;
  instance: string;
  /** ISO 4217 code of the rates: the budget's currency. */
  currency: string;
  rate_per_hour: number;
  expected_per_hour: number;
  /** The rates again when `currency` is USD; null for a budget in another currency. */
  rate_usd_per_hour: number | null;
  expected_usd_per_hour: number | null;
  /** rate / expected. */
  multiple: number;
  /** The key and/or tag contributing most to the spike, when known. */
  offender: { key_id?: string; tag?: string };
  at: string;
}

export type AlertEvent = BudgetThresholdAlert | SpendSpikeAlert;

export type AlertKind = AlertEvent['kind'];

/** What delivery of one alert came to, reported for metrics. 'retried' = one more attempt scheduled. */
export type AlertResult = 'sent' | 'failed' | 'retried';
