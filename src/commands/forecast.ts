/**
 * `claude-meter forecast [--config FILE] [--json]`: the current projection of every budget,
 * read from the running deployment's store (the same forecaster the proxy uses).
 */
import { loadConfig } from '../config/load.ts';
import { locateConfig } from '../config/locate.ts';
import { redisConfigured } from '../compose/stores.ts';
import { openStores, type OpenedStores } from '../compose/open-stores.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { currencySymbol } from '../core/money.ts';
import { forecastReport } from '../report/forecasts.ts';
import { CONFIG_FILE, runCommand, type CommandSpec, type Env, type Io } from './args.ts';

export const FORECAST = {
  name: 'forecast',
  summary: 'current projection of every budget, from the configured Redis',
  options: {
    config: CONFIG_FILE,
    json: { type: 'boolean', description: 'print JSON ({ at, forecasts }) instead of a table' },
  },
} as const satisfies CommandSpec;

export function runForecastCommand(argv: readonly string[], io: Io, env: Env): Promise<number> {
  return runCommand(FORECAST, argv, io, async ({ values }) => {
    const config = loadConfig({ file: locateConfig(values.config, env).file, env });
    if (!redisConfigured(config)) {
      io.stderr.write(
        'claude-meter forecast: no Redis configured (store.redis.url / REDIS_URL): an in-memory store has no history to forecast from\n',
      );
      return 2;
    }
    // The proxy's own stores and forecaster, without the proxy.
    const stores = await openStores(config, { clock: systemClock, logger: silentLogger });
    try {
      return await print(stores.forecasts, values.json, io);
    } finally {
      await stores.close();
    }
  });
}

async function print(forecasts: OpenedStores['forecasts'], json: boolean, io: Io): Promise<number> {
  const now = systemClock.now();
  await forecasts.update(now);
  const rows = forecastReport(forecasts, now) as Record<string, unknown>[];
  if (json) {
    io.stdout.write(`${JSON.stringify({ at: new Date(now).toISOString(), forecasts: rows }, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.stdout.write(
      'no spend budgets with calendar windows to forecast (rolling and token-only budgets have no end-of-window projection)\n',
    );
    return 0;
  }
  const table = [['budget', 'instance', 'window', 'limit', 'spent', 'p10', 'p50', 'p90', 'exhaustion', 'pacing', 'method']];
  for (const r of rows) {
    // Not computed (no update yet, nothing spent yet): dashes, and the status where the method goes.
    const p = (r['projected'] as { p10: number; p50: number; p90: number } | null) ?? { p10: null, p50: null, p90: null };
    const w = r['window'] as { id: string };
    // Each row's amounts are in its budget's currency.
    const symbol = currencySymbol(String(r['currency']));
    const money = (v: unknown) => (typeof v === 'number' ? `${symbol}${v.toFixed(2)}` : '—');
    table.push([
      String(r['budget']),
      String(r['instance']),
      w.id,
      money(r['limit']),
      money(r['spent']),
      money(p.p10),
      money(p.p50),
      money(p.p90),
      r['exhaustion_at'] === null ? '—' : String(r['exhaustion_at']),
      r['pacing_per_hour'] === null ? '—' : `${money(r['pacing_per_hour'])}/h`,
      r['status'] === 'computed'
        ? `${String(r['method'])}${r['cold_start'] ? ' (cold start)' : ''}`
        : `not computed (${String(r['status'])})`,
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  for (const row of table) io.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`);
  return 0;
}
