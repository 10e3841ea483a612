import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MeterStore, Dimension, Granularity, UsageRow } from '../store/types.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import type { Clock } from '../lib/clock.ts';
import { timingSafeEqual } from 'node:crypto';
import type { BudgetGate } from '../budget/gate.ts';
import { budgetsReport } from '../report/budgets.ts';
import type { ForecastService } from '../forecast/service.ts';
import { forecastReport } from '../report/forecasts.ts';
import { dimensionName, parseDimension, sumRows, totalsJson } from '../report/usage.ts';
import { badRequest, chart, parseTime, recent, top, type Answer, type StatusDeps } from './status-data.ts';
import { isStatusAsset, serveStatusAsset } from './status-page.ts';

export interface AdminDeps extends StatusDeps {
  store: MeterStore;
  gate: BudgetGate;
  forecasts: ForecastService;
  metrics: MeterMetrics;
  clock: Clock;
  version: string;
  /** What a reload may change, read once per request. */
  settings(): AdminSettings;
  /** Extra fields for /_meter/health (journal depth, …). */
  healthExtras: () => Record<string, unknown>;
  /** The /metrics text when this process is one of several workers: every worker's, aggregated (workers/). */
  scrape?: () => Promise<string>;
}

export interface AdminSettings {
  /** When set, every /_meter/* route except health needs `Authorization: Bearer <token>`. */
  readonly adminToken: string | null;
  /** /metrics needs the token too (when one is set). */
  readonly protectMetrics: boolean;
  readonly pricingVersion: string;
}

/** Our own routes. Everything else is forwarded; these paths never reach the upstream. */
export function isAdminPath(path: string): boolean {
  return path === '/metrics' || path.startsWith('/metrics?') || path.startsWith('/_meter/');
}

export async function handleAdmin(deps: AdminDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://meter');
  const settings = deps.settings();
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, errorJson('method not allowed'));
  // The status page's files load without the token (they carry no data); its data calls send it.
  if (isStatusAsset(url.pathname)) return serveStatusAsset(url.pathname, res, req.method === 'HEAD');
  if (guarded(url.pathname, settings) && !authorized(settings.adminToken, req.headers.authorization)) {
    res.setHeader('www-authenticate', 'Bearer realm="claude-meter"');
    return json(res, 401, {
      type: 'error',
      error: { type: 'authentication_error', message: 'admin routes need Authorization: Bearer <admin.token>' },
    });
  }
  switch (url.pathname) {
    case '/metrics': {
      let body: string;
      try {
        body = deps.scrape ? await deps.scrape() : await deps.metrics.registry.metrics();
      } catch (err) {
        // A partial aggregate would read as counter resets: no answer is better.
        return json(res, 503, { type: 'error', error: { type: 'api_error', message: `metrics unavailable: ${String(err)}` } });
      }
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(body);
      return;
    }
    case '/_meter/health': {
      const health = await deps.store.health();
      const ok = health.reachable;
      return json(res, ok ? 200 : 503, {
        status: ok ? 'ok' : 'degraded',
        version: deps.version,
        pricing_version: settings.pricingVersion,
        store: health,
        ...deps.healthExtras(),
      });
    }
    case '/_meter/usage':
      return answer(res, await usage(deps, url));
    case '/_meter/forecast':
      return json(res, 200, { forecasts: forecastReport(deps.forecasts, deps.clock.now()) });
    case '/_meter/budgets':
      return json(res, 200, { budgets: await budgetsReport(deps.gate, deps.clock.now()) });
    case '/_meter/top':
      return answer(res, await top(deps, url));
    case '/_meter/recent':
      return answer(res, await recent(deps, url));
    case '/_meter/chart':
      return answer(res, await chart(deps, url));
    default:
      return json(res, 404, errorJson(`no such meter route: ${url.pathname}`));
  }
}

const WINDOWS: Record<string, { granularity: Granularity; defaultSpanMs: number }> = {
  minute: { granularity: 'minute', defaultSpanMs: 60 * 60_000 },
  hour: { granularity: 'hour', defaultSpanMs: 24 * 3_600_000 },
  day: { granularity: 'day', defaultSpanMs: 30 * 86_400_000 },
};
const BY: readonly Dimension[] = ['model', 'key', 'tag', 'upstream', 'all'];

async function usage(deps: AdminDeps, url: URL): Promise<Answer> {
  const window = url.searchParams.get('window') ?? 'hour';
  const byParam = url.searchParams.get('by') ?? 'model';
  const by = parseDimension(byParam, BY);
  const w = WINDOWS[window];
  if (!w) return badRequest(`window must be minute, hour or day (got '${window}')`);
  if (by === null) return badRequest(`by must be model, key_id, tag, upstream or all (got '${byParam}')`);
  const now = deps.clock.now();
  const to = parseTime(url.searchParams.get('to'), now);
  const from = parseTime(url.searchParams.get('from'), to - w.defaultSpanMs);
  if (Number.isNaN(from) || Number.isNaN(to)) return badRequest('from/to must be epoch ms or ISO-8601');
  if (to - from > 93 * 86_400_000) return badRequest('range too large: at most 93 days');
  const rows = await deps.store.query({ by, granularity: w.granularity, from, to });
  // `total`: one sum over every row of the range (cost exact from the pico sums), so clients need not add floats.
  return [
    200,
    {
      window,
      by: dimensionName(by),
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      rows: rows.map(rowJson),
      total: totalsJson(sumRows(rows)),
    },
  ];
}

export function rowJson(r: UsageRow): Record<string, unknown> {
  return { start: new Date(r.start).toISOString(), value: r.value, ...totalsJson(r.totals) };
}

function errorJson(message: string): object {
  return { type: 'error', error: { type: 'invalid_request_error', message } };
}

function answer(res: ServerResponse, [status, body]: Answer): void {
  json(res, status, body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Health stays open for load balancers; /metrics unless protect_metrics says otherwise. */
function guarded(path: string, settings: AdminSettings): boolean {
  if (path === '/metrics') return settings.protectMetrics;
  return path !== '/_meter/health';
}

/** Constant-time comparison, so the token cannot be guessed byte by byte from response timing. */
function authorized(token: string | null, header: string | undefined): boolean {
  if (token === null) return true;
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m?.[1]) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
