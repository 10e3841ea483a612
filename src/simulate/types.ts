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
  /** Admitted after pacing held them (`delay` mode; one still short after its hold is refused: in `throttled`). */
  delayed: number;
  /** How long those were held, summed (each at most `throttle.max_delay_ms`). */
  delayedMs: number;
  /** Outcomes. Spend over the limit when the window (or the run) ended; null when the limit is 0. */
  used: number | null;
  /**
   * Time pacing held requests back while the budget had room for them: the minutes in which it
   * refused or delayed a request whose cost still fitted under the limit (spent + cost ≤ limit).
   */
  heldBackMs: number;
  /** Exhausted more than EARLY_SHARE of the window before its end. */
  ranOutEarly: boolean;
}

/** One budget instance's outcomes over the run: how well its pacing (or its absence) did. */
export interface Outcomes {
  windows: number;
  /** Mean of the windows' `used` (null: none has a limit). */
  used: number | null;
  heldBackMs: number;
  /** Windows that ran out early. */
  ranOutEarly: number;
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
  outcomes: Outcomes;
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
