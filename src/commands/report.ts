/**
 * `claude-meter report [--window day|week|month] [--by model|key|key_id|tag|upstream] [--timezone TZ] [--json]`:
 * requests, tokens by kind, list cost, the billed amount in each upstream's currency, cache
 * savings and every budget with its p50 projection, for
 * the current calendar window, read from the deployment's Redis with the proxy's own stores,
 * pricer and forecaster. The embedded store lives inside one proxy process, so there is
 * nothing to read from here: the command says so and points at the status page.
 * `--by key` (or `key_id`) groups by key id, and the report names that column `key_id`.
 */
import Table from 'cli-table3';
import { loadConfig } from '../config/load.ts';
import { locateConfig } from '../config/locate.ts';
import { redisConfigured } from '../compose/stores.ts';
import { openStores, type OpenedStores } from '../compose/open-stores.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import type { Pricer } from '../pricing/types.ts';
import { cacheSavingsPico } from '../pricing/savings.ts';
import { parseWindow, validTimezone, windowAt } from '../budget/windows.ts';
import { budgetsReport } from '../report/budgets.ts';
import { forecastReport } from '../report/forecasts.ts';
import { currencySymbol, formatMoney, picoToUsd, USD } from '../core/money.ts';
import { emptyTotals, type Dimension, type Totals, type UsageRow } from '../store/types.ts';
import { addTotals, dimensionName, parseDimension, rankByCost, sumByValue, totalsJson } from '../report/usage.ts';
import { CONFIG_FILE, runCommand, UsageError, type CommandSpec, type Env, type Io } from './args.ts';

const BY: readonly Dimension[] = ['model', 'key', 'tag', 'upstream'];

export const REPORT = {
  name: 'report',
  summary: 'requests, tokens, list cost, billed amounts, cache savings and budgets (p50 projection), from the configured Redis',
  options: {
    window: {
      type: 'string',
      choices: ['day', 'week', 'month'],
      default: 'day',
      description: 'the current calendar window; weeks start on Monday',
    },
    by: {
      type: 'string',
      choices: ['model', 'key', 'key_id', 'tag', 'upstream'],
      default: 'model',
      description: 'one row per model, key id (key or key_id), tag or upstream',
    },
    timezone: { type: 'string', value: 'TZ', default: 'UTC', description: 'the IANA time zone of the window' },
    json: { type: 'boolean', description: 'print JSON (window, rows, total, budgets) instead of tables' },
    config: CONFIG_FILE,
  },
} as const satisfies CommandSpec;

export function runReportCommand(argv: readonly string[], io: Io, env: Env): Promise<number> {
  return runCommand(REPORT, argv, io, async ({ values }) => {
    if (!validTimezone(values.timezone)) throw new UsageError(`--timezone: unknown time zone '${values.timezone}'`);
    const config = loadConfig({ file: locateConfig(values.config, env).file, env });
    if (!redisConfigured(config)) {
      io.stderr.write(
        'claude-meter report: no Redis configured (store.redis.url / REDIS_URL): the embedded store lives inside the running proxy, ' +
          "so there is nothing to read from here. Open the proxy's status page (http://HOST:PORT/_meter/) or GET /_meter/usage instead.\n",
      );
      return 2;
    }
    let stores: OpenedStores | null = null;
    try {
      stores = await openStores(config, { clock: systemClock, logger: silentLogger });
      const report = await buildReport(stores, {
        window: values.window,
        by: parseDimension(values.by, BY) ?? 'model',
        timezone: values.timezone,
        now: systemClock.now(),
      });
      io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
      return 0;
    } catch (err) {
      io.stderr.write(`claude-meter report: cannot read the store: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    } finally {
      await stores?.close();
    }
  });
}

export interface ReportOptions {
  window: string;
  by: Dimension;
  timezone: string;
  now: number;
}

/** The report as JSON-ready data (what --json prints; the table shows the same numbers). */
export async function buildReport(
  stores: Pick<OpenedStores, 'meter' | 'budgets' | 'catalog' | 'forecasts' | 'pricer'>,
  o: ReportOptions,
): Promise<Record<string, unknown>> {
  const w = windowAt(parseWindow(o.window, o.timezone), o.now);
  const query = (by: Dimension) => stores.meter.query({ by, granularity: 'day', from: w.start, to: o.now });
  const byModel = await query('model');
  const rows = o.by === 'model' ? byModel : await query(o.by);
  // Savings need the model's rates, so they are summed from the by-model rows (per day, at that day's prices).
  const savings = savingsByModel(byModel, stores.pricer);
  const total = emptyTotals();
  const out = rankByCost(sumByValue(rows)).map(([value, t]) => {
    addTotals(total, t);
    const s = o.by === 'model' ? savings.perModel.get(value) : undefined;
    return { value, ...totalsJson(t), cache_savings_usd: s === undefined || s === null ? null : picoToUsd(s) };
  });
  await stores.forecasts.update(o.now);
  const forecasts = new Map(
    (forecastReport(stores.forecasts, o.now) as Array<{ budget: string; instance: string; projected: { p50: number } | null }>).map((f) => [
      `${f.budget}|${f.instance}`,
      f.projected?.p50 ?? null,
    ]),
  );
  // The projection is in the budget's currency, like the row's other amounts; `_usd` only for a USD budget.
  const budgets = (await budgetsReport({ catalog: stores.catalog, ledger: stores.budgets }, o.now)).map((b) => {
    const p50 = forecasts.get(`${b.budget}|${b.instance}`) ?? null;
    return { ...b, projected_p50: p50, projected_p50_usd: b.currency === USD ? p50 : null };
  });
  return {
    window: { unit: o.window, timezone: o.timezone, id: w.id, start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString() },
    at: new Date(o.now).toISOString(),
    by: dimensionName(o.by),
    rows: out,
    total: { ...totalsJson(total), cache_savings_usd: picoToUsd(savings.total), cache_savings_unpriced_models: savings.unpriced },
    budgets,
  };
}

function savingsByModel(
  rows: readonly UsageRow[],
  pricer: Pricer,
): { perModel: Map<string, bigint | null>; total: bigint; unpriced: string[] } {
  const perModel = new Map<string, bigint | null>();
  for (const r of rows) {
    const t = r.totals.tokens;
    const s = cacheSavingsPico(
      pricer,
      r.value,
      { cacheRead: t.cache_read, cacheWrite5m: t.cache_creation_5m, cacheWrite1h: t.cache_creation_1h },
      r.start,
    );
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
/** An amount of `currency` (usage cost is USD; a budget's amounts are in its own currency). */
const amount = (v: unknown, currency: string) =>
  typeof v === 'number' ? `${currencySymbol(currency)}${v.toFixed(Math.abs(v) < 1 && v !== 0 ? 4 : 2)}` : '—';
const usd = (v: unknown) => amount(v, USD);
// No row rules and no colours: readable in a terminal, a pipe and a CI log alike.
const PLAIN = { style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } };

type BilledJson = Record<string, { amount: number; pico: string }>;

/** `¥12.50 + $0.0040`; `—` when nothing was billed. */
function billedText(x: Record<string, unknown>): string {
  const billed = Object.entries((x['billed'] ?? {}) as BilledJson);
  const text = billed.length === 0 ? '—' : billed.map(([currency, b]) => formatMoney(Number(b.pico), currency)).join(' + ');
  const unpriced = Number(x['billed_unpriced'] ?? 0);
  return unpriced > 0 ? `${text} (+${int(unpriced)} unpriced)` : text;
}

/**
 * The billed column appears by upstream, and whenever some upstream billed other than the list
 * price in USD; otherwise it would repeat the cost column.
 */
function showsBilled(by: string, total: Record<string, unknown>): boolean {
  if (by === 'upstream') return true;
  const billed = Object.entries((total['billed'] ?? {}) as BilledJson);
  const listOnly = billed.every(([currency, b]) => currency === USD && b.pico === total['cost_pico_usd']);
  return !listOnly || Number(total['billed_unpriced'] ?? 0) !== Number(total['unpriced'] ?? 0);
}

export function renderReport(r: Record<string, unknown>): string {
  const w = r['window'] as { unit: string; timezone: string; id: string; start: string };
  const rows = r['rows'] as Array<Record<string, unknown>>;
  const total = r['total'] as Record<string, unknown>;
  const by = String(r['by']);
  const billed = showsBilled(by, total);
  const money = billed ? ['list cost (USD)', 'billed'] : ['cost'];
  const head = [by, 'requests', 'errors', 'input', 'output', 'cache write 5m', 'cache write 1h', 'cache read', ...money, 'cache savings'];
  const usage = new Table({ head, colAligns: ['left', ...head.slice(1).map(() => 'right' as const)], ...PLAIN });
  const line = (label: string, x: Record<string, unknown>) => {
    const t = x['tokens'] as Totals['tokens'];
    const unpriced = Number(x['unpriced']) > 0 ? ` (+${int(Number(x['unpriced']))} unpriced)` : '';
    return [
      label,
      int(Number(x['requests'])),
      int(Number(x['errors'])),
      int(t.input),
      int(t.output),
      int(t.cache_creation_5m),
      int(t.cache_creation_1h),
      int(t.cache_read),
      usd(x['cost_usd']) + unpriced,
      ...(billed ? [billedText(x)] : []),
      usd(x['cache_savings_usd']),
    ];
  };
  for (const x of rows) usage.push(line(String(x['value']) || '(untagged)', x));
  usage.push(line('total', total));
  let text = `${w.unit} ${w.id} (${w.timezone}), since ${w.start}, by ${by}\n${usage.toString()}\n`;
  if (rows.length === 0) text += 'no requests recorded in this window\n';
  const unpricedModels = total['cache_savings_unpriced_models'] as string[];
  if (unpricedModels.length > 0) text += `cache savings leave out unpriced models: ${unpricedModels.join(', ')}\n`;
  const budgets = r['budgets'] as Array<Record<string, unknown>>;
  if (budgets.length === 0) return `${text}\nno budgets configured\n`;
  const bt = new Table({
    head: ['budget', 'instance', 'window', 'limit', 'spent', 'reserved', 'p50 projection', 'tokens', 'status'],
    ...PLAIN,
  });
  for (const b of budgets) {
    const tokens = b['limit_tokens'] === null ? '—' : `${int(Number(b['spent_tokens']))} / ${int(Number(b['limit_tokens']))}`;
    const money = (v: unknown) => amount(v, String(b['currency']));
    bt.push([
      String(b['budget']),
      String(b['instance']),
      (b['window'] as { id: string }).id,
      money(b['limit']),
      money(b['spent']),
      money(b['reserved']),
      money(b['projected_p50']),
      tokens,
      String(b['status']),
    ]);
  }
  return `${text}\nbudgets\n${bt.toString()}\n`;
}
