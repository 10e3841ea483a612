/**
 * Pure aggregation rules shared by every MeterStore, so Memory and Redis cannot disagree
 * on what a record adds to a bucket or how minutes roll up into hours and days.
 */
import { CURRENCY_CODE } from '../core/money.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../core/time.ts';
import { TOKEN_KINDS, type TokenKind, type Usage } from '../core/usage.ts';
import { billedCounter, billedCurrency, COUNTERS, minuteStart, type BucketCounter, type CounterField } from './keys.ts';
import { emptyTotals, type Granularity, type RequestRecord, type Totals, type UsageQuery, type UsageRow } from './types.ts';

const GRANULARITY_MS: Record<Granularity, number> = { minute: MINUTE_MS, hour: HOUR_MS, day: DAY_MS };

function assertCount(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`record.${name} must be a non-negative safe integer, got ${n}`);
  }
}

/**
 * Rejects records whose numbers would corrupt integer counters: HINCRBY refuses
 * fractions, and a float cost would make sums drift. Checked before anything is written.
 */
export function assertValidRecord(r: RequestRecord): void {
  if (typeof r.id !== 'string' || r.id.length === 0 || r.id.length > 200) {
    throw new RangeError('record.id must be a non-empty string of at most 200 characters');
  }
  assertCount('ts', r.ts);
  assertCount('costPicoUsd', r.costPicoUsd);
  assertCount('billedPico', r.billedPico);
  assertCount('status', r.status);
  // Both name stored fields: the currency a counter (`bill:<code>`), the upstream a dimension value.
  if (typeof r.currency !== 'string' || !CURRENCY_CODE.test(r.currency)) {
    throw new RangeError(`record.currency must be an ISO 4217 code, got ${JSON.stringify(r.currency)}`);
  }
  if (typeof r.upstream !== 'string' || r.upstream.length === 0) throw new RangeError('record.upstream must be a non-empty string');
  const u = r.usage;
  if (u === null) return;
  // Constant names: this runs twice per request (Recorder and store), so no string is built unless it fails.
  assertCount('usage.input', u.input);
  assertCount('usage.output', u.output);
  assertCount('usage.cacheCreation', u.cacheCreation);
  assertCount('usage.cacheRead', u.cacheRead);
  assertCount('usage.webSearchRequests', u.webSearchRequests);
  if (u.cacheCreation5m !== null) assertCount('usage.cacheCreation5m', u.cacheCreation5m);
  if (u.cacheCreation1h !== null) assertCount('usage.cacheCreation1h', u.cacheCreation1h);
}

/** Tokens by billing kind. The 5m/1h split is optional upstream: whatever part of
 *  cacheCreation it does not explain was written with the default (5m) TTL. */
export function tokenCounts(u: Usage): Record<TokenKind, number> {
  const c5m = u.cacheCreation5m ?? 0;
  const c1h = u.cacheCreation1h ?? 0;
  const unsplit = Math.max(0, u.cacheCreation - c5m - c1h);
  return {
    input: u.input,
    output: u.output,
    cache_creation_5m: c5m + unsplit,
    cache_creation_1h: c1h,
    cache_read: u.cacheRead,
  };
}

/** The integer increments one record adds to each of its buckets; zeros are omitted. */
export function recordDeltas(r: RequestRecord): Array<readonly [BucketCounter, number]> {
  const out: Array<readonly [BucketCounter, number]> = [[COUNTERS.requests, 1]];
  pushNonZero(out, COUNTERS.errors, r.status >= 400 ? 1 : 0);
  pushNonZero(out, COUNTERS.partial, r.partial ? 1 : 0);
  pushNonZero(out, COUNTERS.usageMissing, r.usageMissing !== null ? 1 : 0);
  pushNonZero(out, COUNTERS.unpriced, r.unpriced ? 1 : 0);
  if (r.usage !== null) {
    const t = tokenCounts(r.usage);
    for (const kind of TOKEN_KINDS) pushNonZero(out, COUNTERS[kind], t[kind]);
    pushNonZero(out, COUNTERS.webSearchRequests, r.usage.webSearchRequests);
  }
  pushNonZero(out, COUNTERS.costPicoUsd, r.costPicoUsd);
  pushNonZero(out, COUNTERS.billedUnpriced, r.billedUnpriced ? 1 : 0);
  if (r.billedPico !== 0) out.push([billedCounter(r.currency), r.billedPico]);
  return out;
}

/** A module function, not a closure: tsx names every closure per call (see http/request-body.ts). */
function pushNonZero(out: Array<readonly [BucketCounter, number]>, c: CounterField, n: number): void {
  if (n !== 0) out.push([c, n]);
}

type Fold = (t: Totals, n: bigint) => void;
const FOLD: Record<CounterField, Fold> = {
  req: (t, n) => void (t.requests += Number(n)),
  err: (t, n) => void (t.errors += Number(n)),
  part: (t, n) => void (t.partial += Number(n)),
  miss: (t, n) => void (t.usageMissing += Number(n)),
  unpr: (t, n) => void (t.unpriced += Number(n)),
  in: (t, n) => void (t.tokens.input += Number(n)),
  out: (t, n) => void (t.tokens.output += Number(n)),
  cw5m: (t, n) => void (t.tokens.cache_creation_5m += Number(n)),
  cw1h: (t, n) => void (t.tokens.cache_creation_1h += Number(n)),
  cr: (t, n) => void (t.tokens.cache_read += Number(n)),
  ws: (t, n) => void (t.webSearchRequests += Number(n)),
  // Money stays bigint end to end: a day of pico-USD overflows 2^53 quickly.
  cost: (t, n) => void (t.costPicoUsd += n),
  bunpr: (t, n) => void (t.billedUnpriced += Number(n)),
};

function isCounterField(c: string): c is CounterField {
  return Object.hasOwn(FOLD, c);
}

/** Start of the query row (minute, hour or day) a stored minute rolls up into. */
export function rowStart(minuteMs: number, g: Granularity): number {
  const size = GRANULARITY_MS[g];
  return Math.floor(minuteMs / size) * size;
}

/**
 * Rolls stored per-minute counters up into query rows. A minute belongs to the query
 * when its start lies in [minuteStart(from), to); rows are keyed by the start of their
 * minute/hour/day, which for a partial first hour or day may precede `from`.
 */
export class RowBuilder {
  readonly #from: number;
  readonly #to: number;
  readonly #granularity: Granularity;
  readonly #rows = new Map<number, Map<string, Totals>>();

  constructor(q: UsageQuery) {
    if (!Number.isFinite(q.from) || !Number.isFinite(q.to)) {
      throw new RangeError('query from/to must be finite epoch ms');
    }
    if (!Object.hasOwn(GRANULARITY_MS, q.granularity)) {
      throw new RangeError(`unknown granularity ${String(q.granularity)}`);
    }
    this.#from = minuteStart(q.from);
    this.#to = q.to;
    this.#granularity = q.granularity;
  }

  /** Unknown counters (written by a newer version) and out-of-range minutes are ignored. */
  add(minuteMs: number, value: string, counter: string, amount: bigint): void {
    if (minuteMs < this.#from || minuteMs >= this.#to) return;
    const known = isCounterField(counter);
    const currency = known ? null : billedCurrency(counter);
    if (!known && currency === null) return;
    const start = rowStart(minuteMs, this.#granularity);
    let byValue = this.#rows.get(start);
    if (byValue === undefined) this.#rows.set(start, (byValue = new Map()));
    let totals = byValue.get(value);
    if (totals === undefined) byValue.set(value, (totals = emptyTotals()));
    if (known) FOLD[counter](totals, amount);
    else if (currency !== null) totals.billed[currency] = (totals.billed[currency] ?? 0n) + amount;
  }

  /** Sorted by start, then value (code-unit order, locale-independent). */
  rows(): UsageRow[] {
    const out: UsageRow[] = [];
    for (const start of [...this.#rows.keys()].sort((a, b) => a - b)) {
      const byValue = this.#rows.get(start) ?? new Map<string, Totals>();
      for (const value of [...byValue.keys()].sort(compareStrings)) {
        const totals = byValue.get(value);
        if (totals !== undefined) out.push({ start, value, totals });
      }
    }
    return out;
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
