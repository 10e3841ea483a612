import { picoToUsd, picoToUsdMicro } from '../core/money.ts';
import { HOUR_MS } from '../core/time.ts';
import type { ForecastService, InstanceForecast } from '../forecast/service.ts';

/** GET /_meter/forecast (and `claude-meter forecast`): the same numbers as the metrics, as JSON. */
export function forecastReport(service: Pick<ForecastService, 'all'>, now: number): object[] {
  return service.all().map((f) => forecastRow(f, now));
}

export function forecastRow(f: InstanceForecast, now: number): Record<string, unknown> {
  return {
    budget: f.budget.name,
    instance: f.ref.instance,
    action: f.budget.action,
    window: { id: f.ref.window.id, start: new Date(f.ref.window.start).toISOString(), end: new Date(f.ref.window.end).toISOString() },
    limit_usd: f.ref.limitPico === null ? null : picoToUsd(f.ref.limitPico),
    spent_usd: picoToUsdMicro(f.spentPico),
    reserved_usd: picoToUsdMicro(f.reservedPico),
    projected_usd: { p10: picoToUsdMicro(f.live.p10), p50: picoToUsdMicro(f.live.p50), p90: picoToUsdMicro(f.live.p90) },
    exhaustion_at: f.live.exhaustionAt === null ? null : new Date(f.live.exhaustionAt).toISOString(),
    exhaustion_in_s: f.live.exhaustionAt === null ? null : Math.max(0, Math.round((f.live.exhaustionAt - now) / 1000)),
    // The same band as projected_usd: exhaustion on the p90 path (earliest) and the p10 path (latest).
    exhaustion_band: { earliest: iso(f.live.exhaustionEarliest), latest: iso(f.live.exhaustionLatest) },
    pacing_usd_per_hour: f.pacedRate === null ? null : picoToUsdMicro(f.pacedRate * HOUR_MS),
    method: f.path.method,
    cold_start: f.path.coldStart,
    note: f.path.note ?? null,
    fitted_at: new Date(f.path.fittedAt).toISOString(),
    updated_at: new Date(f.updatedAt).toISOString(),
  };
}

function iso(t: number | null): string | null {
  return t === null ? null : new Date(t).toISOString();
}
