/**
 * `claude-meter report [--window day|week|month] [--by model|key|tag] [--timezone TZ] [--json]`:
 * requests, tokens by kind, cost, cache savings and every budget with its p50 projection, for
 * the current calendar window, read from the deployment's Redis with the proxy's own stores,
 * pricer and forecaster. The embedded store lives inside one proxy process, so there is
 * nothing to read from here: the command says so and points at the status page.
 * `--by key` (or `key_id`) groups by key id, and the report names that column `key_id`.
 */
import Table from 'cli-table3';
import { loadConfig } from '../config/load.ts';
import { createApp, type App } from '../app.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { buildPricer } from '../pricing/build.ts';
import type { Pricer } from '../pricing/types.ts';
import { cacheSavingsPico } from '../pricing/savings.ts';
import { parseWindow, validTimezone, windowAt } from '../budget/windows.ts';
import { budgetsReport } from '../report/budgets.ts';
import { forecastReport } from '../report/forecasts.ts';
import { picoToUsd } from '../core/money.ts';
import { emptyTotals, type Dimension, type Totals, type UsageRow } from '../store/types.ts';
import { addTotals, dimensionName, parseDimension, rankByCost, sumByValue, totalsJson } from '../report/usage.ts';

type Io = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream };
const WINDOWS = ['day', 'week', 'month'] as const;
const BY: readonly Dimension[] = ['model', 'key', 'tag'];

export async function runReportCommand(flags: Map<string, string>, io: Io, env: Record<string, string | undefined>): Promise<number> {
  const window = flags.get('window') ?? 'day';
  const byFlag = flags.get('by') ?? 'model';
  const by = parseDimension(byFlag, BY);
  const timezone = flags.get('timezone') ?? 'UTC';
  const bad = !(WINDOWS as readonly string[]).includes(window)
    ? `--window must be day, week or month (got '${window}')`
    : by === null
      ? `--by must be model, key or tag (got '${byFlag}')`
      : !validTimezone(timezone)
        ? `--timezone: unknown time zone '${timezone}'`
        : null;
  if (bad !== null || by === null) {
    io.stderr.write(`claude-meter report: ${bad}\n`);
    return 2;
  }
  const config = loadConfig({ file: flags.get('config') ?? null, env });
  if (config.store.redis.url === null && config.store.redis.cluster_nodes.length === 0) {
    io.stderr.write(
      'claude-meter report: no Redis configured (store.redis.url / REDIS_URL): the embedded store lives inside the running proxy, ' +
        'so there is nothing to read from here. Open the proxy\'s status page (http://HOST:PORT/_meter/) or GET /_meter/usage instead.\n',
    );
    return 2;
  }
  const app = createApp({ config, clock: systemClock, logger: silentLogger, defaultMetrics: false, forecasting: false });
  try {
    await app.ready();
    const report = await buildReport(app, buildPricer(config), { window, by, timezone, now: systemClock.now() });
    io.stdout.write(flags.has('json') ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
    return 0;
  } catch (err) {
    io.stderr.write(`claude-meter report: cannot read the store: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await app.close();
  }
}

export interface ReportOptions {
  window: string;
  by: Dimension;
  timezone: string;
  now: number;
}

/** The report as JSON-ready data (what --json prints; the table shows the same numbers). */
export async function buildReport(app: Pick<App, 'store' | 'gate' | 'forecasts'>, pricer: Pricer, o: ReportOptions): Promise<Record<string, unknown>> {
  const w = windowAt(parseWindow(o.window, o.timezone), o.now);
  const query = (by: Dimension) => app.store.query({ by, granularity: 'day', from: w.start, to: o.now });
  const byModel = await query('model');
  const rows = o.by === 'model' ? byModel : await query(o.by);
  // Savings need the model's rates, so they are summed from the by-model rows (per day, at that day's prices).
  const savings = savingsByModel(byModel, pricer);
  const total = emptyTotals();
  const out = rankByCost(sumByValue(rows)).map(([value, t]) => {
    addTotals(total, t);
    const s = o.by === 'model' ? savings.perModel.get(value) : undefined;
    return { value, ...totalsJson(t), cache_savings_usd: s === undefined || s === null ? null : picoToUsd(s) };
  });
  await app.forecasts.update(o.now);
  const forecasts = new Map(
    (forecastReport(app.forecasts, o.now) as Array<{ budget: string; instance: string; projected_usd: { p50: number } }>).map((f) => [`${f.budget}|${f.instance}`, f.projected_usd.p50]),
  );
  const budgets = (await budgetsReport(app.gate, o.now)).map((b) => ({ ...b, projected_p50_usd: forecasts.get(`${b.budget}|${b.instance}`) ?? null }));
  return {
    window: { unit: o.window, timezone: o.timezone, id: w.id, start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString() },
    at: new Date(o.now).toISOString(),
    by: dimensionName(o.by),
    rows: out,
    total: { ...totalsJson(total), cache_savings_usd: picoToUsd(savings.total), cache_savings_unpriced_models: savings.unpriced },
    budgets,
  };
}

function savingsByModel(rows: readonly UsageRow[], pricer: Pricer): { perModel: Map<string, bigint | null>; total: bigint; unpriced: string[] } {
  const perModel = new Map<string, bigint | null>();
  for (const r of rows) {
    const t = r.totals.tokens;
    const s = cacheSavingsPico(pricer, r.value, { cacheRead: t.cache_read, cacheWrite5m: t.cache_creation_5m, cacheWrite1h: t.cache_creation_1h }, r.start);
    const prev = perModel.get(r.value);
    perModel.set(r.value, s === null || prev === null ? null : (prev ?? 0n) + s);
  }
  let total = 0n;
  const unpriced: string[] = [];
  for (const [m, s] of perModel) {
    if (s === null) unpriced.push(m);
    else total += s;
  }
  return { perModel, total, unpriced };
}

const int = (n: number) => n.toLocaleString('en-US');
const usd = (v: unknown) => (typeof v === 'number' ? `$${v.toFixed(Math.abs(v) < 1 && v !== 0 ? 4 : 2)}` : '—');
// No row rules and no colours: readable in a terminal, a pipe and a CI log alike.
const PLAIN = { style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } };

export function renderReport(r: Record<string, unknown>): string {
  const w = r['window'] as { unit: string; timezone: string; id: string; start: string };
  const rows = r['rows'] as Array<Record<string, unknown>>;
  const total = r['total'] as Record<string, unknown>;
  const by = String(r['by']);
  const head = [by, 'requests', 'errors', 'input', 'output', 'cache write 5m', 'cache write 1h', 'cache read', 'cost', 'cache savings'];
  const usage = new Table({ head, colAligns: ['left', ...head.slice(1).map(() => 'right' as const)], ...PLAIN });
  const line = (label: string, x: Record<string, unknown>) => {
    const t = x['tokens'] as Totals['tokens'];
    const unpriced = Number(x['unpriced']) > 0 ? ` (+${int(Number(x['unpriced']))} unpriced)` : '';
    return [label, int(Number(x['requests'])), int(Number(x['errors'])), int(t.input), int(t.output), int(t.cache_creation_5m), int(t.cache_creation_1h), int(t.cache_read), usd(x['cost_usd']) + unpriced, usd(x['cache_savings_usd'])];
  };
  for (const x of rows) usage.push(line(String(x['value']) || '(untagged)', x));
  usage.push(line('total', total));
  let text = `${w.unit} ${w.id} (${w.timezone}), since ${w.start}, by ${by}\n${usage.toString()}\n`;
  if (rows.length === 0) text += 'no requests recorded in this window\n';
  const unpricedModels = total['cache_savings_unpriced_models'] as string[];
  if (unpricedModels.length > 0) text += `cache savings leave out unpriced models: ${unpricedModels.join(', ')}\n`;
  const budgets = r['budgets'] as Array<Record<string, unknown>>;
  if (budgets.length === 0) return `${text}\nno budgets configured\n`;
  const bt = new Table({ head: ['budget', 'instance', 'window', 'limit', 'spent', 'reserved', 'p50 projection', 'tokens', 'status'], ...PLAIN });
  for (const b of budgets) {
    const tokens = b['limit_tokens'] === null ? '—' : `${int(Number(b['spent_tokens']))} / ${int(Number(b['limit_tokens']))}`;
    bt.push([String(b['budget']), String(b['instance']), (b['window'] as { id: string }).id, usd(b['limit_usd']), usd(b['spent_usd']), usd(b['reserved_usd']), usd(b['projected_p50_usd']), tokens, String(b['status'])]);
  }
  return `${text}\nbudgets\n${bt.toString()}\n`;
}
