import { picoToUnits, picoToUnitsMicro, USD } from '../core/money.ts';
import { HOUR_MS } from '../core/time.ts';
import { budgetCurrency } from '../budget/catalog.ts';
import type { ForecastService, InstanceForecast } from '../forecast/service.ts';

/** GET /_meter/forecast (and `claude-meter forecast`): the same numbers as the metrics, as JSON. */
export function forecastReport(service: Pick<ForecastService, 'all'>, now: number): object[] {
  return service.all().map((f) => forecastRow(f, now));
}

/**
 * One budget instance's projection. Money is in the budget's `currency` (`limit`, `spent`,
 * `reserved`, `projected`, `pacing_per_hour`); the `*_usd` fields repeat them for a USD
 * budget and are null for a budget in another currency, as in GET /_meter/budgets.
 */
export function forecastRow(f: InstanceForecast, now: number): Record<string, unknown> {
  const currency = budgetCurrency(f.budget);
  const usd = currency === USD;
  const limit = f.ref.limitPico === null ? null : picoToUnits(f.ref.limitPico);
  const spent = picoToUnitsMicro(f.spentPico);
  const reserved = picoToUnitsMicro(f.reservedPico);
  const projected = { p10: picoToUnitsMicro(f.live.p10), p50: picoToUnitsMicro(f.live.p50), p90: picoToUnitsMicro(f.live.p90) };
  const pacing = f.pacedRate === null ? null : picoToUnitsMicro(f.pacedRate * HOUR_MS);
  return {
    budget: f.budget.name,
    instance: f.ref.instance,
    action: f.budget.action,
    window: { id: f.ref.window.id, start: new Date(f.ref.window.start).toISOString(), end: new Date(f.ref.window.end).toISOString() },
    currency,
    limit,
    spent,
    reserved,
    projected,
    limit_usd: usd ? limit : null,
    spent_usd: usd ? spent : null,
    reserved_usd: usd ? reserved : null,
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

function iso(t: number | null): string | null {
  return t === null ? null : new Date(t).toISOString();
}
