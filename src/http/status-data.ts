/**
 * The JSON routes the status page reads besides budgets, forecast, usage and health:
 *   /_meter/top     spend and requests by model, key id and tag over a range (today by default), and
 *                   every configured upstream with its spend (list USD, billed in its currency) and usage semantics
 *   /_meter/recent  the latest refused requests (429 by default) with the reason
 *   /_meter/chart   cumulative spend over a budget instance's window, its limit and forecast band,
 *                   in the budget's currency (all traffic: USD, the metering store's)
 * Keys appear only as key ids (the hash), as everywhere else.
 */
import type { BudgetGate } from '../budget/gate.ts';
import type { ForecastStore } from '../budget/types.ts';
import type { BudgetConfig, InstanceRef } from '../budget/types.ts';
import type { ForecastService } from '../forecast/service.ts';
import { pathAt } from '../forecast/path.ts';
import { picoToUnits, USD } from '../core/money.ts';
import { budgetCurrency } from '../budget/catalog.ts';
import type { Clock } from '../lib/clock.ts';
import { emptyTotals, type Dimension, type MeterStore, type RequestRecord, type Totals, type UsageRow } from '../store/types.ts';
import { rankByCost, sumByValue, sumRows, totalsJson } from '../report/usage.ts';
import { NOT_COMPUTED_NOTES, type ForecastRowStatus } from '../report/forecasts.ts';
import type { UpstreamSet } from './upstreams.ts';

export interface StatusDeps {
  store: MeterStore;
  gate: BudgetGate;
  forecasts: ForecastService;
  /** A budget instance's hourly spend, for its chart. */
  history: Pick<ForecastStore, 'hourlySpend'>;
  clock: Clock;
  /** The upstreams of the config in force. */
  upstreams(): UpstreamSet;
}

export type Answer = [status: number, body: unknown];

const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Events scanned for /_meter/recent: the store's newest, bounded so the route stays cheap. */
const RECENT_SCAN = 2_000;

export function parseTime(s: string | null, fallback: number): number {
  if (s === null || s === '') return fallback;
  if (/^\d+$/.test(s)) return Number(s);
  return Date.parse(s);
}

export function badRequest(message: string): Answer {
  return [400, { type: 'error', error: { type: 'invalid_request_error', message } }];
}

function limitParam(url: URL, fallback: number, max: number): number | null {
  const raw = url.searchParams.get('limit');
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 && n <= max ? n : null;
}

/** Today so far by default (UTC midnight to now); the page passes the viewer's local midnight as `from`. */
export async function top(deps: StatusDeps, url: URL): Promise<Answer> {
  const now = deps.clock.now();
  const to = parseTime(url.searchParams.get('to'), now);
  const from = parseTime(url.searchParams.get('from'), Math.floor(now / DAY) * DAY);
  const limit = limitParam(url, 5, 100);
  if (Number.isNaN(from) || Number.isNaN(to)) return badRequest('from/to must be epoch ms or ISO-8601');
  if (to - from > 93 * DAY) return badRequest('range too large: at most 93 days');
  if (limit === null) return badRequest('limit must be an integer from 1 to 100');
  const q = (by: Dimension) => deps.store.query({ by, granularity: 'day', from, to });
  const [all, models, keys, tags, ups] = await Promise.all([q('all'), q('model'), q('key'), q('tag'), q('upstream')]);
  const ranked = (rows: UsageRow[]) => {
    const sums = rankByCost(sumByValue(rows));
    return { count: sums.length, rows: sums.slice(0, limit).map(([value, t]) => ({ value, ...totalsJson(t) })) };
  };
  const [m, k, t] = [ranked(models), ranked(keys), ranked(tags)];
  return [
    200,
    {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      total: totalsJson(sumRows(all)),
      models: m.rows,
      models_count: m.count,
      key_ids: k.rows,
      key_ids_count: k.count,
      tags: t.rows,
      tags_count: t.count,
      upstreams: upstreamsJson(deps.upstreams(), sumByValue(ups)),
    },
  ];
}

/**
 * Every upstream of the config in force, in config order, with its totals over the range (none:
 * zeros): the list price in USD and what it billed, by currency (its own, unless a reload changed
 * it). An upstream a reload removed is not listed; its spend stays in `total`.
 */
function upstreamsJson(set: UpstreamSet, totals: ReadonlyMap<string, Totals>): object[] {
  return [...set.byName.values()].map((u) => ({
    name: u.name,
    api: u.api,
    route: u.route,
    currency: u.biller.currency,
    usage_semantics: u.usageSemantics(),
    ...totalsJson(totals.get(u.name) ?? emptyTotals()),
  }));
}

/** Why a request was refused, from what its record holds. */
function reason(r: RequestRecord): 'budget' | 'budget_store_unreachable' | 'upstream' | 'other' {
  if (r.usageMissing === 'refused_by_budget') return 'budget';
  if (r.usageMissing === 'budget_store_unreachable') return 'budget_store_unreachable';
  return r.usageMissing === 'error_status' || r.errorType !== null ? 'upstream' : 'other';
}

export async function recent(deps: StatusDeps, url: URL): Promise<Answer> {
  const status = Number(url.searchParams.get('status') ?? '429');
  const limit = limitParam(url, 20, 100);
  if (!Number.isInteger(status) || status < 100 || status > 599) return badRequest('status must be an HTTP status code');
  if (limit === null) return badRequest('limit must be an integer from 1 to 100');
  const events = await deps.store.recent(RECENT_SCAN);
  const now = deps.clock.now();
  const used = usedShare(deps, now);
  const rows = [];
  for (const r of events.filter((e) => e.status === status).slice(0, limit)) {
    const why = reason(r);
    rows.push({
      id: r.id,
      time: new Date(r.ts).toISOString(),
      method: r.method,
      path: r.path,
      model: r.model,
      key_id: r.keyId,
      tag: r.tag,
      status: r.status,
      reason: why,
      ...(await explain(deps, r, why, used)),
    });
  }
  return [200, { status, scanned: events.length, rows }];
}

/** How full each budget instance (in the window a request fell in) is now, read once per instance. */
function usedShare(deps: StatusDeps, now: number): (ref: InstanceRef) => Promise<number> {
  const seen = new Map<string, Promise<number>>();
  return (ref) => {
    const k = `${ref.budget}|${ref.instance}|${ref.window.id}`;
    let p = seen.get(k);
    if (p === undefined) {
      p = deps.gate.ledger
        .state([ref], now)
        .then(([st]) =>
          st === undefined
            ? 0
            : Math.max(
                ref.limitPico ? (st.spentPico + st.reservedPico) / ref.limitPico : 0,
                ref.limitTokens ? (st.spentTokens + st.reservedTokens) / ref.limitTokens : 0,
              ),
        );
      seen.set(k, p);
    }
    return p;
  };
}

/**
 * The record says a budget refused it, not which: of the enforcing budgets it falls under,
 * the fullest one now (in the window of the request) is named, with how full it is.
 */
async function explain(
  deps: StatusDeps,
  r: RequestRecord,
  why: ReturnType<typeof reason>,
  used: (ref: InstanceRef) => Promise<number>,
): Promise<{ detail: string; budget: string | null; budgets: string[] }> {
  if (why === 'upstream')
    return { detail: `upstream answered ${r.status}${r.errorType ? ` ${r.errorType}` : ''}`, budget: null, budgets: [] };
  if (why === 'budget_store_unreachable') return { detail: 'budget store unreachable (a fail-closed budget)', budget: null, budgets: [] };
  if (why === 'other') return { detail: r.usageMissing ?? 'unknown', budget: null, budgets: [] };
  const { refs, budgets } = deps.gate.catalog.refsFor(r, r.ts);
  const candidates = refs.map((ref, i) => ({ ref, b: budgets[i]! })).filter((c) => c.b.action !== 'shadow');
  if (candidates.length === 0) return { detail: 'refused by a budget (no longer configured)', budget: null, budgets: [] };
  const shares = await Promise.all(candidates.map((c) => used(c.ref)));
  const best = shares.indexOf(Math.max(...shares));
  const name = candidates[best]!.b.name;
  const instance = candidates[best]!.ref.instance === '*' ? '' : ` (${candidates[best]!.ref.instance})`;
  const of = candidates.length > 1 ? `; the request fell under ${candidates.length} budgets` : '';
  return {
    detail: `refused by budget '${name}'${instance}: ${Math.round(shares[best]! * 100)}% used${of}`,
    budget: name,
    budgets: candidates.map((c) => c.b.name),
  };
}

/**
 * Where the meter store holds exactly this instance's traffic (a dimension and its values), or
 * null when the budget's filters cut across dimensions and only the budget history fits.
 */
function meterSeries(b: BudgetConfig, instance: string): { by: Dimension; values: Set<string> } | null {
  const m = b.match;
  const filters = (['key', 'tag', 'model', 'path', 'upstream'] as const).filter((k) => m[k].length > 0);
  if (b.scope === 'global') {
    if (filters.length === 0) return { by: 'all', values: new Set(['*']) };
    if (filters.length === 1 && (filters[0] === 'key' || filters[0] === 'tag')) return { by: filters[0], values: new Set(m[filters[0]]) };
    return null;
  }
  if (filters.length > 0 || b.scope === 'per_upstream') return null;
  const by = ({ per_key: 'key', per_tag: 'tag', per_model: 'model' } as const)[b.scope];
  return { by, values: new Set([by === 'tag' && instance === 'untagged' ? '' : instance]) };
}

/**
 * What a store time bucket's records were billed in `currency`. Hours stored before billed totals
 * existed have none: their USD list price is what a USD budget counted then.
 */
function billedIn(t: Totals, currency: string): bigint {
  const billed = t.billed[currency];
  if (billed !== undefined) return billed;
  return currency === USD && Object.keys(t.billed).length === 0 ? t.costPicoUsd : 0n;
}

/** One point per hour from `start` to `now`: [ms, cumulative pico]. */
function cumulative(perHour: Map<number, bigint>, start: number, now: number): Array<[number, bigint]> {
  const points: Array<[number, bigint]> = [[start, 0n]];
  let cum = 0n;
  for (let h = Math.floor(start / HOUR) * HOUR; h < now; h += HOUR) {
    cum += perHour.get(h) ?? 0n;
    points.push([Math.min(h + HOUR, now), cum]);
  }
  return points;
}

export async function chart(deps: StatusDeps, url: URL): Promise<Answer> {
  const now = deps.clock.now();
  const name = url.searchParams.get('budget') ?? '';
  /** Hourly sums of the list price (USD), or of what was billed in `billed` (a budget's currency). */
  const hourly = async (by: Dimension, values: Set<string>, start: number, billed?: string) => {
    const per = new Map<number, bigint>();
    for (const r of await deps.store.query({ by, granularity: 'hour', from: start, to: now })) {
      if (values.has(r.value))
        per.set(r.start, (per.get(r.start) ?? 0n) + (billed === undefined ? r.totals.costPicoUsd : billedIn(r.totals, billed)));
    }
    return per;
  };
  const json = (points: Array<[number, bigint]>) => points.map(([t, p]) => [new Date(t).toISOString(), picoToUnits(p)]);
  if (name === '') {
    const start = parseTime(url.searchParams.get('from'), Math.floor(now / DAY) * DAY);
    if (Number.isNaN(start) || start > now || now - start > 31 * DAY)
      return badRequest('from must be epoch ms or ISO-8601, at most 31 days ago');
    const spent = cumulative(await hourly('all', new Set(['*']), start), start, now);
    const window = { id: 'today', start: new Date(start).toISOString(), end: new Date(start + DAY).toISOString() };
    return [
      200,
      {
        budget: null,
        instance: null,
        window,
        now: new Date(now).toISOString(),
        currency: USD,
        limit: null,
        limit_usd: null,
        source: 'meter_store',
        spent: json(spent),
        forecast: null,
        forecast_status: null,
        forecast_note: null,
      },
    ];
  }
  const b = deps.gate.catalog.find(name);
  if (b === undefined) return [404, { type: 'error', error: { type: 'not_found_error', message: `no budget named '${name}'` } }];
  const instance = url.searchParams.get('instance') || '*';
  const ref = deps.gate.catalog.instanceRef(b, instance, now);
  const start = ref.window.start;
  const currency = budgetCurrency(b);
  // The meter store's billed totals are what the ledger counts only where every upstream the budget
  // sees bills in its currency (no conversion); otherwise the budget's own history is the figure.
  const upstreams = [...deps.upstreams().byName.values()].filter((u) => b.match.upstream.length === 0 || b.match.upstream.includes(u.name));
  const series = upstreams.every((u) => u.biller.currency === currency) ? meterSeries(b, instance) : null;
  // Budget history also holds refused demand (the forecaster's input), so the meter store is preferred.
  const perHour =
    series !== null
      ? await hourly(series.by, series.values, start, currency)
      : new Map([...(await deps.history.hourlySpend(b.name, instance, start, now))].map(([h, p]) => [h, BigInt(p)]));
  const spent = cumulative(perHour, start, now);
  const found = deps.forecasts.get(b.name, instance);
  const f = found !== undefined && found.ref.window.id === ref.window.id ? found : undefined;
  let forecast: object | null = null;
  if (f?.status === 'computed') {
    // Anchored where /_meter/forecast is (spend and reservations at the last update), so the band ends at its p10/p50/p90.
    const path = f.path;
    const at = (q: 1 | 2 | 3, t: number) =>
      picoToUnits(Math.round(f.spentPico + f.reservedPico + Math.max(0, pathAt(path, q, t) - pathAt(path, q, f.updatedAt))));
    const times = [now, ...path.knots.map((k) => k[0]).filter((t) => t > now)];
    forecast = {
      method: path.method,
      cold_start: path.coldStart,
      note: path.note ?? null,
      points: times.map((t) => [new Date(t).toISOString(), at(1, t), at(2, t), at(3, t)]),
    };
  }
  // Forecasts are of spend to a calendar window's end: a token-only or rolling budget has none to wait for.
  const forecastable = ref.limitPico !== null && ref.window.rollingMs === null;
  const status: ForecastRowStatus | null = f !== undefined ? f.status : forecastable ? 'no_update_yet' : null;
  const window = { id: ref.window.id, spec: b.window, start: new Date(start).toISOString(), end: new Date(ref.window.end).toISOString() };
  const limit = ref.limitPico === null ? null : picoToUnits(ref.limitPico);
  return [
    200,
    {
      budget: b.name,
      instance,
      window,
      now: new Date(now).toISOString(),
      // Every amount of the answer (limit, spent, forecast) is in `currency`; limit_usd only for a USD budget.
      currency,
      limit,
      limit_usd: currency === USD ? limit : null,
      source: series === null ? 'budget_history' : 'meter_store',
      spent: json(spent),
      forecast,
      // `computed` with `forecast`; else why there is none (null: the budget gets no forecast).
      forecast_status: status,
      forecast_note: status === null || status === 'computed' ? null : NOT_COMPUTED_NOTES[status],
    },
  ];
}
