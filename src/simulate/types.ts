/** What a simulation reports (src/simulate/run.ts), for the table, the JSON and the chart. */
import type { BudgetAction, BudgetScope } from '../budget/types.ts';

export interface WindowStats {
  id: string;
  start: number;
  end: number;
  /** In the budget's unit: USD, or tokens for token-only budgets. */
  limit: number;
  /** What every request that reached this instance would have cost, admitted or not. */
  demand: number;
  spent: number;
  exhaustedAt: number | null;
  admitted: number;
  /** Refused by pacing (throttle budgets, spike offenders). */
  throttled: number;
  /** Refused by the limit (shadow budgets: would have been; those requests were admitted). */
  refused: number;
}

/** One point of the chart; forecasts are the projected window totals (USD budgets only). */
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
  unit: 'usd' | 'tokens';
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
