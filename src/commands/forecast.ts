/**
 * `claude-meter forecast [--config FILE] [--json]`: the current projection of every budget,
 * read from the running deployment's store (the same forecaster the proxy uses).
 */
import { loadConfig } from '../config/load.ts';
import { createApp } from '../app.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { forecastReport } from '../report/forecasts.ts';

export async function runForecastCommand(
  flags: Map<string, string>,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  env: Record<string, string | undefined>,
): Promise<number> {
  const config = loadConfig({ file: flags.get('config') ?? null, env });
  if (config.store.redis.url === null && config.store.redis.cluster_nodes.length === 0) {
    io.stderr.write('claude-meter forecast: no Redis configured (store.redis.url / REDIS_URL): an in-memory store has no history to forecast from\n');
    return 2;
  }
  // The app's own components, without listening: same stores, gate and forecaster as the proxy.
  const app = createApp({ config, clock: systemClock, logger: silentLogger, defaultMetrics: false, forecasting: false });
  try {
    await app.ready();
    const now = systemClock.now();
    await app.forecasts.update(now);
    const rows = forecastReport(app.forecasts, now) as Record<string, unknown>[];
    if (flags.has('json')) {
      io.stdout.write(`${JSON.stringify({ at: new Date(now).toISOString(), forecasts: rows }, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write('no USD budgets with calendar windows to forecast (rolling and token-only budgets have no end-of-window projection)\n');
      return 0;
    }
    const table = [['budget', 'instance', 'window', 'limit', 'spent', 'p10', 'p50', 'p90', 'exhaustion', 'pacing', 'method']];
    for (const r of rows) {
      const p = r['projected_usd'] as { p10: number; p50: number; p90: number };
      const w = r['window'] as { id: string };
      const money = (v: unknown) => (typeof v === 'number' ? `$${v.toFixed(2)}` : '—');
      table.push([
        String(r['budget']),
        String(r['instance']),
        w.id,
        money(r['limit_usd']),
        money(r['spent_usd']),
        money(p.p10),
        money(p.p50),
        money(p.p90),
        r['exhaustion_at'] === null ? '—' : String(r['exhaustion_at']),
        r['pacing_usd_per_hour'] === null ? '—' : `${money(r['pacing_usd_per_hour'])}/h`,
        `${String(r['method'])}${r['cold_start'] ? ' (cold start)' : ''}`,
      ]);
    }
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
    for (const row of table) io.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`);
    return 0;
  } finally {
    await app.close();
  }
}
