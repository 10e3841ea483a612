/**
 * Reads the two normalized CSV forms of data/README.md into a Series of one target.
 *
 *   per-request: timestamp_ms,model,input_tokens,output_tokens          (epoch ms, UTC days)
 *   aggregated:  window_start_ms,window_ms,model,requests,input_tokens,output_tokens,token_covered_requests
 *                (trace ms, 0 = 00:00 of day 0)
 *
 * Targets: `requests`; `tokens` = input + output; `cost` = tokens priced per million at
 * DEFAULT_PRICES ($3 input / $15 output per MTok, Claude Sonnet list prices: a stand-in,
 * since the traces have no Claude model names), overridable. An empty token column means
 * the source has no token counts: tokens and cost are then unavailable, and asking for them
 * is an error rather than a silent zero. ServeGen token columns are kept as published (a
 * consistent sub-population, see token_covered_requests), unless scaleTokenCoverage is set.
 */
import { DAY_MS, HOUR_MS } from '../../core/time.ts';
import type { Series } from '../series.ts';

export type Target = 'cost' | 'tokens' | 'requests';
export const TARGETS: readonly Target[] = ['cost', 'tokens', 'requests'];

export interface Prices {
  /** USD per million input tokens. */
  inputPerMTok: number;
  /** USD per million output tokens. */
  outputPerMTok: number;
}
export const DEFAULT_PRICES: Prices = Object.freeze({ inputPerMTok: 3, outputPerMTok: 15 });

export interface LoadOptions {
  /** Default: cost when every selected row has tokens, else requests. */
  target?: Target;
  /** Keep only rows with this model label; all rows are summed otherwise. */
  model?: string;
  prices?: Prices;
  /** Aggregated form: scale token sums by requests / token_covered_requests (an assumption). */
  scaleTokenCoverage?: boolean;
}

export interface LoadedSeries {
  series: Series;
  target: Target;
  form: 'per-request' | 'aggregated';
  /** Every model label in the file, sorted. */
  models: string[];
  rows: number;
}

/** A problem with the file or the options: the CLI shows the message and exits 2. */
export class SeriesInputError extends Error {
  override name = 'SeriesInputError';
}

const PER_REQUEST = 'timestamp_ms,model,input_tokens,output_tokens';
const AGGREGATED = 'window_start_ms,window_ms,model,requests,input_tokens,output_tokens,token_covered_requests';

interface Row {
  start: number;
  windowMs: number;
  requests: number;
  input: number | null;
  output: number | null;
}

export function parseSeriesCsv(text: string, opts: LoadOptions = {}): LoadedSeries {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').trim();
  const form = header === PER_REQUEST ? 'per-request' : header === AGGREGATED ? 'aggregated' : null;
  if (form === null) {
    throw new SeriesInputError(`unrecognised CSV header '${header.slice(0, 120)}': expected '${PER_REQUEST}' or '${AGGREGATED}'`);
  }
  const models = new Set<string>();
  const rows: Row[] = [];
  for (let i = 1; i < lines.length; i++) {
    const f = (lines[i] ?? '').split(',');
    const where = `line ${i + 1}`;
    const model = f[form === 'per-request' ? 1 : 2] ?? '';
    models.add(model);
    if (opts.model !== undefined && model !== opts.model) continue;
    rows.push(form === 'per-request' ? perRequestRow(f, where) : aggregatedRow(f, where, opts.scaleTokenCoverage === true));
  }
  const sortedModels = [...models].sort();
  if (rows.length === 0) {
    const which =
      opts.model === undefined ? 'no data rows' : `no rows with model '${opts.model}' (models: ${sortedModels.join(', ') || 'none'})`;
    throw new SeriesInputError(which);
  }
  const hasTokens = rows.every((r) => r.input !== null && r.output !== null);
  const target = opts.target ?? (hasTokens ? 'cost' : 'requests');
  if (target !== 'requests' && !hasTokens) {
    throw new SeriesInputError(`target '${target}' needs token counts, but this series has empty token columns; use --target requests`);
  }
  const prices = opts.prices ?? DEFAULT_PRICES;
  const value = (r: Row): number => {
    if (target === 'requests') return r.requests;
    const tokens = (r.input ?? 0) + (r.output ?? 0);
    return target === 'tokens' ? tokens : ((r.input ?? 0) * prices.inputPerMTok + (r.output ?? 0) * prices.outputPerMTok) / 1e6;
  };
  const series = form === 'per-request' ? binRequests(rows, value) : gridWindows(rows, value);
  return { series, target, form, models: sortedModels, rows: rows.length };
}

/** A non-negative number from a CSV cell, or a SeriesInputError naming where. */
export function num(s: string | undefined, what: string, where: string): number {
  const v = Number(s);
  if (s === undefined || s.trim() === '' || !Number.isFinite(v) || v < 0) throw new SeriesInputError(`${where}: bad ${what} '${s ?? ''}'`);
  return v;
}

export function optNum(s: string | undefined, what: string, where: string): number | null {
  return s === undefined || s.trim() === '' ? null : num(s, what, where);
}

function perRequestRow(f: string[], where: string): Row {
  return {
    start: num(f[0], 'timestamp_ms', where),
    windowMs: 0,
    requests: 1,
    input: optNum(f[2], 'input_tokens', where),
    output: optNum(f[3], 'output_tokens', where),
  };
}

function aggregatedRow(f: string[], where: string, scale: boolean): Row {
  const requests = num(f[3], 'requests', where);
  let input = optNum(f[4], 'input_tokens', where);
  let output = optNum(f[5], 'output_tokens', where);
  const covered = optNum(f[6], 'token_covered_requests', where);
  if (scale && covered !== null && covered > 0 && input !== null && output !== null) {
    input *= requests / covered;
    output *= requests / covered;
  }
  return { start: num(f[0], 'window_start_ms', where), windowMs: num(f[1], 'window_ms', where), requests, input, output };
}

/**
 * Requests into hourly buckets. The series starts at the UTC midnight before the first
 * request and ends with the hour of the last, so a day counts as whole when the log reaches
 * its last hour; a log that starts mid-day has an undercounted day 0 (skip it with
 * --eval-from, which counts days from this first day).
 */
function binRequests(rows: Row[], value: (r: Row) => number): Series {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, r.start);
    hi = Math.max(hi, r.start);
  }
  const start = Math.floor(lo / DAY_MS) * DAY_MS;
  const values = new Float64Array(Math.floor((hi - start) / HOUR_MS) + 1);
  for (const r of rows) {
    const k = Math.floor((r.start - start) / HOUR_MS);
    values[k] = (values[k] ?? 0) + value(r);
  }
  return { start, stepMs: HOUR_MS, values };
}

/** Aggregated windows onto their own grid (missing windows are zero; rows of several models add up). */
function gridWindows(rows: Row[], value: (r: Row) => number): Series {
  const step = rows[0]?.windowMs ?? 0;
  if (!(step > 0)) throw new SeriesInputError('window_ms must be > 0');
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    if (r.windowMs !== step) throw new SeriesInputError(`mixed window_ms (${step} and ${r.windowMs}): one series needs one window size`);
    if (r.start % step !== 0) throw new SeriesInputError(`window_start_ms ${r.start} is not a multiple of window_ms ${step}`);
    lo = Math.min(lo, r.start);
    hi = Math.max(hi, r.start);
  }
  const values = new Float64Array(Math.round((hi - lo) / step) + 1);
  for (const r of rows) {
    const k = Math.round((r.start - lo) / step);
    values[k] = (values[k] ?? 0) + value(r);
  }
  return { start: lo, stepMs: step, values };
}
