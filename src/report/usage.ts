/**
 * Sums of usage rows and their JSON form, shared by /_meter/usage (`total`), /_meter/top,
 * the status page and `claude-meter report`. Money stays bigint pico-units until the JSON edge.
 */
import { picoToUnits, picoToUsd } from '../core/money.ts';
import { emptyTotals, type Dimension, type Totals, type UsageRow } from '../store/types.ts';
import { TOKEN_KINDS } from '../core/usage.ts';

/** A dimension as answers name it: the key dimension holds key ids (hashes), never keys. */
export function dimensionName(d: Dimension): string {
  return d === 'key' ? 'key_id' : d;
}

/** The dimension a `by` parameter names, among `allowed`: `key_id`, or `key` (the config's word), for key ids. */
export function parseDimension(by: string, allowed: readonly Dimension[]): Dimension | null {
  const d = by === 'key_id' ? 'key' : by;
  return (allowed as readonly string[]).includes(d) ? (d as Dimension) : null;
}

/** Adds `b` into `a` and returns `a`. */
export function addTotals(a: Totals, b: Totals): Totals {
  a.requests += b.requests;
  a.errors += b.errors;
  a.partial += b.partial;
  a.usageMissing += b.usageMissing;
  a.unpriced += b.unpriced;
  for (const k of TOKEN_KINDS) a.tokens[k] += b.tokens[k];
  a.webSearchRequests += b.webSearchRequests;
  a.costPicoUsd += b.costPicoUsd;
  for (const [currency, pico] of Object.entries(b.billed)) a.billed[currency] = (a.billed[currency] ?? 0n) + pico;
  a.billedUnpriced += b.billedUnpriced;
  return a;
}

/** One total over every row of a range. */
export function sumRows(rows: readonly UsageRow[]): Totals {
  const t = emptyTotals();
  for (const r of rows) addTotals(t, r.totals);
  return t;
}

/** Totals per dimension value across every time bucket, in first-seen order. */
export function sumByValue(rows: readonly UsageRow[]): Map<string, Totals> {
  const out = new Map<string, Totals>();
  for (const r of rows) {
    let t = out.get(r.value);
    if (t === undefined) out.set(r.value, (t = emptyTotals()));
    addTotals(t, r.totals);
  }
  return out;
}

/** Highest cost first, then most requests, then by value, so the order is stable between refreshes. */
export function rankByCost(entries: Iterable<[string, Totals]>): Array<[string, Totals]> {
  return [...entries].sort(([va, a], [vb, b]) =>
    a.costPicoUsd !== b.costPicoUsd
      ? b.costPicoUsd > a.costPicoUsd
        ? 1
        : -1
      : b.requests - a.requests || (va < vb ? -1 : va > vb ? 1 : 0),
  );
}

export function totalsJson(t: Totals): Record<string, unknown> {
  return {
    requests: t.requests,
    errors: t.errors,
    partial: t.partial,
    usage_missing: t.usageMissing,
    unpriced: t.unpriced,
    tokens: { ...t.tokens },
    web_search_requests: t.webSearchRequests,
    cost_usd: picoToUsd(t.costPicoUsd),
    // Exact integer, as a string because JSON numbers lose precision past 2^53.
    cost_pico_usd: t.costPicoUsd.toString(),
    billed: billedJson(t.billed),
    billed_unpriced: t.billedUnpriced,
  };
}

/**
 * What the upstreams billed, by currency code in code order: `{ CNY: { amount: 12.5, pico: "12500000000000" } }`,
 * the amount in units of the currency (beside `cost_usd`, the list price) and the exact pico-units as a string.
 */
export function billedJson(billed: Readonly<Record<string, bigint>>): Record<string, { amount: number; pico: string }> {
  const out: Record<string, { amount: number; pico: string }> = {};
  for (const currency of Object.keys(billed).sort()) {
    const pico = billed[currency] ?? 0n;
    out[currency] = { amount: picoToUnits(pico), pico: pico.toString() };
  }
  return out;
}
