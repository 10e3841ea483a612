/** What a simulation reports (src/simulate/run.ts), for the table, the JSON and the chart. */
import type { BudgetAction, BudgetScope } from '../budget/types.ts';

export interface WindowStats {
  id: string;
  start: number;
  end: number;
  /** In the budget's unit: its currency, or tokens for token-only budgets. */
  limit: number;
  /**
   * What every request that reached this instance would have cost, admitted or not; null when
   * a cost could not be converted into the budget's currency (no exchange rate configured).
   */
  demand: number | null;
  spent: number;
  exhaustedAt: number | null;
  admitted: number;
  /** Refused by pacing (throttle budgets, spike offenders). */
  throttled: number;
  /** Refused by the limit (shadow budgets: would have been; those requests were admitted). */
  refused: number;
}

/** One point of the chart; forecasts are the projected window totals (spend budgets only). */
export interface Sample {
  t: number;
  windowId: string;
  spent: number;
  p10: number | null;
  p50: number | null;
  p90: number | null;
}

export interface HourCounts {
  t: number;
  admitted: number;
  throttled: number;
  refused: number;
}

export interface InstanceResult {
  budget: string;
  instance: string;
  scope: BudgetScope;
  window: string;
  action: BudgetAction;
  /**
   * What `limit`, `spent`, `demand` and the forecasts count: `tokens` for a token-only budget,
   * else the budget's currency code in lower case (`usd`, `cny`).
   */
  unit: string;
  /** The budget's currency (ISO 4217), or null for a token-only budget. */
  currency: string | null;
  limit: number;
  spikes: number;
  windows: WindowStats[];
  samples: Sample[];
  hours: HourCounts[];
}

export interface SimResult {
  from: number;
  to: number;
  requests: number;
  historyRequests: number;
  admitted: number;
  throttled: number;
  refused: number;
  /** Admitted without any budget applying. */
  unbudgeted: number;
  instances: InstanceResult[];
}
