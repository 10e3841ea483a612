import { picoToUnits, picoToUnitsMicro, USD } from '../core/money.ts';
import { HOUR_MS } from '../core/time.ts';
import { budgetCurrency } from '../budget/catalog.ts';
import type { BudgetConfig, InstanceRef } from '../budget/types.ts';
import type { ForecastService, InstanceForecast } from '../forecast/service.ts';

/**
 * Whether a row has a projection: `computed`; `no_update_yet` (no forecast update has reached
 * the instance since the process started); `no_spend_yet` (nothing spent in the window and no
 * history: nothing to project from). Only `computed` rows have numbers.
 */
export type ForecastRowStatus = 'computed' | 'no_update_yet' | 'no_spend_yet';

/** Why a projection is missing, in words (the row's `note`, the status page's). */
export const NOT_COMPUTED_NOTES: Readonly<Record<Exclude<ForecastRowStatus, 'computed'>, string>> = {
  no_update_yet: 'not computed yet: no forecast update has run since the proxy started',
  no_spend_yet:
    'not computed yet: nothing spent in this window and no history to project from; the first update after the first spend computes it',
};

/** GET /_meter/forecast (and `claude-meter forecast`): the same numbers as the metrics, as JSON. */
export function forecastReport(service: Pick<ForecastService, 'all' | 'awaiting'>, now: number): object[] {
  return [...service.all().map((f) => forecastRow(f, now)), ...service.awaiting(now).map((a) => awaitingRow(a.budget, a.ref))];
}

/**
 * One budget instance's projection. Money is in the budget's `currency` (`limit`, `spent`,
 * `reserved`, `projected`, `pacing_per_hour`); the `*_usd` fields repeat them for a USD
 * budget and are null for a budget in another currency, as in GET /_meter/budgets. A
 * projection not computed is null (never zeros), with its `status` and `note`.
 */
export function forecastRow(f: InstanceForecast, now: number): Record<string, unknown> {
  const usd = budgetCurrency(f.budget) === USD;
  const spent = picoToUnitsMicro(f.spentPico);
  const reserved = picoToUnitsMicro(f.reservedPico);
  const head = {
    ...identity(f.budget, f.ref),
    spent,
    reserved,
    spent_usd: usd ? spent : null,
    reserved_usd: usd ? reserved : null,
  };
  if (f.status !== 'computed') return { ...head, ...notComputed(f.status), updated_at: new Date(f.updatedAt).toISOString() };
  const projected = { p10: picoToUnitsMicro(f.live.p10), p50: picoToUnitsMicro(f.live.p50), p90: picoToUnitsMicro(f.live.p90) };
  const pacing = f.pacedRate === null ? null : picoToUnitsMicro(f.pacedRate * HOUR_MS);
  return {
    ...head,
    status: 'computed',
    projected,
    projected_usd: usd ? projected : null,
    exhaustion_at: f.live.exhaustionAt === null ? null : new Date(f.live.exhaustionAt).toISOString(),
    exhaustion_in_s: f.live.exhaustionAt === null ? null : Math.max(0, Math.round((f.live.exhaustionAt - now) / 1000)),
    // The same band as projected: exhaustion on the p90 path (earliest) and the p10 path (latest).
    exhaustion_band: { earliest: iso(f.live.exhaustionEarliest), latest: iso(f.live.exhaustionLatest) },
    pacing_per_hour: pacing,
    pacing_usd_per_hour: usd ? pacing : null,
    method: f.path.method,
    cold_start: f.path.coldStart,
    note: f.path.note ?? null,
    // The forecaster believes the level moved today and follows today's pace (issue #21).
    level_changed: f.path.levelChanged === true,
    fitted_at: new Date(f.path.fittedAt).toISOString(),
    updated_at: new Date(f.updatedAt).toISOString(),
  };
}

/** A global budget instance no update has reached yet: what the catalog knows, nothing projected. */
function awaitingRow(b: BudgetConfig, ref: InstanceRef): Record<string, unknown> {
  return {
    ...identity(b, ref),
    spent: null,
    reserved: null,
    spent_usd: null,
    reserved_usd: null,
    ...notComputed('no_update_yet'),
    updated_at: null,
  };
}

function identity(b: BudgetConfig, ref: InstanceRef): Record<string, unknown> {
  const currency = budgetCurrency(b);
  const limit = ref.limitPico === null ? null : picoToUnits(ref.limitPico);
  return {
    budget: b.name,
    instance: ref.instance,
    action: b.action,
    window: { id: ref.window.id, start: new Date(ref.window.start).toISOString(), end: new Date(ref.window.end).toISOString() },
    currency,
    limit,
    limit_usd: currency === USD ? limit : null,
  };
}

function notComputed(status: Exclude<ForecastRowStatus, 'computed'>): Record<string, unknown> {
  return {
    status,
    projected: null,
    projected_usd: null,
    exhaustion_at: null,
    exhaustion_in_s: null,
    exhaustion_band: { earliest: null, latest: null },
    pacing_per_hour: null,
    pacing_usd_per_hour: null,
    method: null,
    cold_start: true,
    note: NOT_COMPUTED_NOTES[status],
    fitted_at: null,
  };
}

function iso(t: number | null): string | null {
  return t === null ? null : new Date(t).toISOString();
}
