import type { ForecastService, InstanceForecast } from './service.ts';

/** GET /_meter/forecast (and `claude-meter forecast`): the same numbers as the metrics, as JSON. */
export function forecastReport(service: Pick<ForecastService, 'all'>, now: number): object[] {
  return service.all().map((f) => forecastRow(f, now));
}

export function forecastRow(f: InstanceForecast, now: number): Record<string, unknown> {
  const usd = (p: number) => Math.round(p / 1e6) / 1e6;
  return {
    budget: f.budget.name,
    instance: f.ref.instance,
    action: f.budget.action,
    window: { id: f.ref.window.id, start: new Date(f.ref.window.start).toISOString(), end: new Date(f.ref.window.end).toISOString() },
    limit_usd: f.ref.limitPico === null ? null : f.ref.limitPico / 1e12,
    spent_usd: usd(f.spentPico),
    reserved_usd: usd(f.reservedPico),
    projected_usd: { p10: usd(f.live.p10), p50: usd(f.live.p50), p90: usd(f.live.p90) },
    exhaustion_at: f.live.exhaustionAt === null ? null : new Date(f.live.exhaustionAt).toISOString(),
    exhaustion_in_s: f.live.exhaustionAt === null ? null : Math.max(0, Math.round((f.live.exhaustionAt - now) / 1000)),
    pacing_usd_per_hour: f.pacedRate === null ? null : usd(f.pacedRate * 3_600_000),
    method: f.path.method,
    cold_start: f.path.coldStart,
    note: f.path.note ?? null,
    fitted_at: new Date(f.path.fittedAt).toISOString(),
    updated_at: new Date(f.updatedAt).toISOString(),
  };
}
