import { formatMoney, picoToUnits, USD } from '../core/money.ts';
import { HOUR_MS } from '../core/time.ts';
import { budgetCurrency } from './catalog.ts';
import type { BudgetConfig, InstanceRef, InstanceState } from './types.ts';

/**
 * Pure decisions about what a client is told: the 429 message, retry-after, whether
 * retrying can help, and the x-meter-budget-* headers. No I/O, no clock reads.
 * Every pico amount of a budget (its ref's limit, its state, a request's amount) is in the
 * budget's currency (budgetCurrency), and is shown with that currency's symbol.
 */

/** Above this, a retry "within a few minutes" cannot help: tell SDKs not to retry (x-should-retry: false). */
export const MAX_USEFUL_RETRY_S = 60;
/** When only in-flight reservations block, headroom returns as they settle: a short retry. */
export const INFLIGHT_RETRY_S = 2;

/**
 * Why a request was refused: the limit is reached (`exhausted`), what is left is less than
 * this request needs (`nearly_exhausted`), it would fit but for the reservations in flight and
 * waiting did not help (`in_flight`), or a pacing bucket is short (`paced`).
 */
export type RefusalCause = 'exhausted' | 'nearly_exhausted' | 'in_flight' | 'paced';

/** How an in-flight refusal came about: after waiting this long, or at once because the wait queue was full. */
export interface InFlightWait {
  waitedMs: number;
  queueFull: boolean;
}

export interface Refusal {
  /** `limit`: spent + reserved + this request would pass the limit; `paced`: a pacing bucket is short (the limit is not reached). */
  kind: 'limit' | 'paced';
  cause: RefusalCause;
  status: 429;
  message: string;
  retryAfterS: number;
  shouldRetry: boolean;
  headers: Record<string, string>;
}

function describe(budget: BudgetConfig, ref: InstanceRef): string {
  const who = budget.scope === 'global' ? '' : ` for ${budget.scope.slice(4)} '${ref.instance}'`;
  return `budget '${budget.name}'${who} (${budget.window})`;
}

/**
 * Why `ref` refused a request needing `amount`: exhausted until reset, or full only
 * because of requests still in flight (their settles will free headroom).
 */
export function refusal(
  budget: BudgetConfig,
  ref: InstanceRef,
  st: InstanceState,
  amount: { pico: number; tokens: number },
  now: number,
  wait: InFlightWait | null = null,
): Refusal {
  const money = (pico: number) => formatMoney(pico, budgetCurrency(budget));
  const moneyBlocked = ref.limitPico !== null && st.spentPico + st.reservedPico + amount.pico > ref.limitPico;
  const overWithoutInflight = moneyBlocked
    ? ref.limitPico !== null && st.spentPico + amount.pico > ref.limitPico
    : ref.limitTokens !== null && st.spentTokens + amount.tokens > ref.limitTokens;
  const resetAt = ref.window.rollingMs === null ? ref.window.end : now + ref.window.segmentMs;
  const resetIso = new Date(resetAt).toISOString();
  let message: string;
  let retryAfterS: number;
  let cause: RefusalCause;
  if (overWithoutInflight) {
    retryAfterS = Math.max(1, Math.ceil((resetAt - now) / 1000));
    const exhausted = moneyBlocked ? st.spentPico >= (ref.limitPico ?? 0) : st.spentTokens >= (ref.limitTokens ?? 0);
    const used = moneyBlocked
      ? `spent ${money(st.spentPico)} of ${money(ref.limitPico ?? 0)}`
      : `used ${st.spentTokens.toLocaleString('en-US')} of ${(ref.limitTokens ?? 0).toLocaleString('en-US')} tokens`;
    // Not yet at 100% but this request's expected cost does not fit: say so, with what it needs.
    const need = exhausted
      ? ''
      : moneyBlocked
        ? ` (this request needs about ${money(amount.pico)})`
        : ` (this request needs about ${amount.tokens} tokens)`;
    const state = exhausted ? 'exhausted' : 'nearly exhausted';
    cause = exhausted ? 'exhausted' : 'nearly_exhausted';
    const when = ref.window.rollingMs === null ? `resets ${resetIso}` : 'headroom returns as spend ages out of the window';
    // Said only when something is in flight: otherwise there is no reservation to wait for.
    const notInflight = st.reservedPico > 0 || st.reservedTokens > 0 ? '; it would not fit even without the requests in flight' : '';
    message = `${describe(budget, ref)} ${state}: ${used}${need}, ${when}${notInflight}`;
  } else {
    retryAfterS = INFLIGHT_RETRY_S;
    cause = 'in_flight';
    const inflight = moneyBlocked
      ? `spent ${money(st.spentPico)} + ${money(st.reservedPico)} in flight of ${money(ref.limitPico ?? 0)}`
      : `used ${st.spentTokens} + ${st.reservedTokens} in flight of ${ref.limitTokens ?? 0} tokens`;
    const need = moneyBlocked ? `about ${money(amount.pico)}` : `about ${amount.tokens} tokens`;
    message = `${describe(budget, ref)} has no headroom: ${inflight}; this request (${need}) would fit without the reservations in flight${waited(wait)}; retry when in-flight requests finish`;
  }
  return {
    kind: 'limit',
    cause,
    status: 429,
    message,
    retryAfterS,
    shouldRetry: retryAfterS <= MAX_USEFUL_RETRY_S,
    headers: { ...budgetHeaders(budget, ref, st, resetAt), 'x-meter-budget-refusal': cause },
  };
}

function waited(wait: InFlightWait | null): string {
  if (wait === null) return '';
  return wait.queueFull
    ? ', but the queue of requests waiting for them is full'
    : `, and waited ${Math.round(wait.waitedMs)} ms for them to settle`;
}

/**
 * An in-flight refusal of a request that never tried the ledger: it queued behind others
 * (no overtaking) and the wait ended, or the queue was full. No state was read, so no figures.
 */
export function queuedRefusal(budget: BudgetConfig, ref: InstanceRef, wait: InFlightWait): Refusal {
  return {
    kind: 'limit',
    cause: 'in_flight',
    status: 429,
    message: `${describe(budget, ref)} has no headroom while requests are in flight${waited(wait)}; retry when in-flight requests finish`,
    retryAfterS: INFLIGHT_RETRY_S,
    shouldRetry: true,
    headers: { 'x-meter-budget-name': budget.name, 'x-meter-budget-window': ref.window.id, 'x-meter-budget-refusal': 'in_flight' },
  };
}

/**
 * Amounts as headers: `x-meter-budget-<name>` in the budget's currency, named by
 * `x-meter-budget-currency`; for a USD budget also its `-usd` spelling (the same
 * value, the header clients read before budgets had a currency). A budget in another currency
 * has no `-usd` header: its amounts are not dollars.
 */
function moneyHeaders(
  budget: BudgetConfig,
  amounts: ReadonlyArray<[name: string, usdName: string, value: string]>,
): Record<string, string> {
  const currency = budgetCurrency(budget);
  const h: Record<string, string> = { 'x-meter-budget-currency': currency };
  for (const [name, usdName, value] of amounts) {
    h[`x-meter-budget-${name}`] = value;
    if (currency === USD) h[`x-meter-budget-${usdName}`] = value;
  }
  return h;
}

/** x-meter-budget-* for one budget instance: what is left, and when it resets. */
export function budgetHeaders(budget: BudgetConfig, ref: InstanceRef, st: InstanceState, resetAt: number | null): Record<string, string> {
  const h: Record<string, string> = { 'x-meter-budget-name': budget.name, 'x-meter-budget-window': ref.window.id };
  if (budget.scope !== 'global') h['x-meter-budget-instance'] = ref.instance;
  if (ref.limitPico !== null) {
    const limit = picoToUnits(ref.limitPico).toFixed(6);
    const remaining = picoToUnits(Math.max(0, ref.limitPico - st.spentPico - st.reservedPico)).toFixed(6);
    Object.assign(
      h,
      moneyHeaders(budget, [
        ['limit', 'limit-usd', limit],
        ['remaining', 'remaining-usd', remaining],
      ]),
    );
  }
  if (ref.limitTokens !== null) {
    h['x-meter-budget-limit-tokens'] = String(ref.limitTokens);
    h['x-meter-budget-remaining-tokens'] = String(Math.max(0, ref.limitTokens - st.spentTokens - st.reservedTokens));
  }
  if (resetAt !== null) h['x-meter-budget-reset'] = new Date(resetAt).toISOString();
  return h;
}

/** Fraction of the limit still free (the smaller of money and tokens); 1 when unlimited. */
export function headroom(ref: InstanceRef, st: InstanceState): number {
  let f = 1;
  if (ref.limitPico !== null && ref.limitPico > 0) f = Math.min(f, (ref.limitPico - st.spentPico - st.reservedPico) / ref.limitPico);
  if (ref.limitTokens !== null && ref.limitTokens > 0)
    f = Math.min(f, (ref.limitTokens - st.spentTokens - st.reservedTokens) / ref.limitTokens);
  return f;
}

/** Index of the enforcing instance with the least headroom, or -1. */
export function tightest(refs: readonly InstanceRef[], states: readonly InstanceState[]): number {
  let best = -1;
  let bestF = Number.POSITIVE_INFINITY;
  refs.forEach((ref, i) => {
    const st = states[i];
    if (!ref.enforce || st === undefined) return;
    const f = headroom(ref, st);
    if (f < bestF) {
      bestF = f;
      best = i;
    }
  });
  return best;
}

/** x-meter-budget-* of an admitted request: those of the enforcing instance with the least headroom. */
export function admittedHeaders(
  refs: readonly InstanceRef[],
  budgets: readonly BudgetConfig[],
  states: readonly InstanceState[],
): Record<string, string> {
  const t = tightest(refs, states);
  const [ref, budget, st] = [refs[t], budgets[t], states[t]];
  return ref && budget && st ? budgetHeaders(budget, ref, st, ref.window.rollingMs === null ? ref.window.end : null) : {};
}

/** Spent + reserved past a limit (after an admission): what a shadow budget would have refused. */
export function overLimit(ref: InstanceRef, st: InstanceState): boolean {
  return (
    (ref.limitPico !== null && st.spentPico + st.reservedPico > ref.limitPico) ||
    (ref.limitTokens !== null && st.spentTokens + st.reservedTokens > ref.limitTokens)
  );
}

/** Thresholds crossed by a settle: those t with before < t·limit <= after (USD or tokens). */
export function crossedThresholds(thresholds: readonly number[], ref: InstanceRef, before: InstanceState, after: InstanceState): number[] {
  return thresholds.filter((t) => {
    const usdCross = ref.limitPico !== null && before.spentPico < t * ref.limitPico && after.spentPico >= t * ref.limitPico;
    const tokCross = ref.limitTokens !== null && before.spentTokens < t * ref.limitTokens && after.spentTokens >= t * ref.limitTokens;
    return usdCross || tokCross;
  });
}

/**
 * A paced (throttled) refusal: the budget is not exhausted, but the forecast says it would be
 * before the window ends, so spend is admitted at the rate that makes it last.
 */
export function pacedRefusal(budget: BudgetConfig, ref: InstanceRef, ratePerMs: number, waitMs: number, now: number): Refusal {
  const retryAfterS = Number.isFinite(waitMs)
    ? Math.max(1, Math.ceil(waitMs / 1000))
    : Math.max(1, Math.ceil((ref.window.end - now) / 1000));
  const currency = budgetCurrency(budget);
  const perHour = formatMoney(ratePerMs * HOUR_MS, currency);
  return {
    kind: 'paced',
    cause: 'paced',
    status: 429,
    message: `${describe(budget, ref)} is paced: spend is projected past ${formatMoney(ref.limitPico ?? 0, currency)} before ${new Date(ref.window.end).toISOString()}, so it is admitted at ${perHour}/h; retry in ${retryAfterS}s`,
    retryAfterS,
    shouldRetry: retryAfterS <= MAX_USEFUL_RETRY_S,
    headers: {
      'x-meter-budget-name': budget.name,
      'x-meter-budget-window': ref.window.id,
      ...moneyHeaders(budget, [['paced-per-hour', 'paced-usd-per-hour', picoToUnits(ratePerMs * HOUR_MS).toFixed(6)]]),
      'x-meter-budget-refusal': 'paced',
    },
  };
}
