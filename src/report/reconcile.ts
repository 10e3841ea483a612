/**
 * `claude-meter reconcile`'s comparison, pure: what the proxy metered for Anthropic's own
 * upstreams (the store's `upstream_model_key` rows) beside what Anthropic's usage report says,
 * both priced by our table, per day and model, per day, or per API key; the organization's total
 * beside the cost report; and the gaps that explain a difference. Money stays bigint pico-USD
 * until the JSON edge. The I/O (the store, the Admin API) is the command's.
 */
import { DAY_MS, HOUR_MS } from '../core/time.ts';
import type { Config } from '../config/types.ts';
import { picoToUsd } from '../core/money.ts';
import type { ApiKeyRow, CostReportRow, UsageReportRow } from '../api/anthropic/admin.ts';
import type { Pricer, TokenCounts } from '../pricing/types.ts';
import { parseUpstreamModelKey } from '../store/keys.ts';
import type { UsageRow } from '../store/types.ts';

export type ReconcileBy = 'day' | 'model' | 'key';

/** Anthropic itself: an upstream at this origin is compared, any other (a relay) is left out. */
export const ANTHROPIC_ORIGIN = 'https://api.anthropic.com';
/** Anthropic's data lands within about this long after the fact (the Admin API's documentation). */
export const LANDING_MS = 5 * 60_000;

/** The hour both sides end at: the start of the last hour that ended at least LANDING_MS ago. */
export function landedCutoff(now: number): number {
  return Math.floor((now - LANDING_MS) / HOUR_MS) * HOUR_MS;
}

/** The upstreams compared (those named, else those at Anthropic's origin) and the others, with their origin only (a relay's URL may hold a token). */
export function anthropicUpstreams(
  config: Pick<Config, 'upstream' | 'upstreams'>,
  named: readonly string[] | null,
): { compared: string[]; leftOut: Array<{ name: string; url: string }> } {
  const all = [config.upstream, ...config.upstreams];
  const wanted = named === null || named.length === 0 ? null : new Set(named);
  const isAnthropic = (u: { name: string; url: string }) => (wanted === null ? origin(u.url) === ANTHROPIC_ORIGIN : wanted.has(u.name));
  return {
    compared: all.filter(isAnthropic).map((u) => u.name),
    leftOut: all.filter((u) => !isAnthropic(u)).map((u) => ({ name: u.name, url: origin(u.url) })),
  };
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

/** Tokens by kind, web searches and the list price of one side of a comparison. */
export interface Side extends TokenCounts {
  picoUsd: bigint;
  /** Requests (ours) or report rows (theirs) with no price in our table: their cost is unknown, not 0. */
  unpriced: number;
}

export function emptySide(): Side {
  return { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, webSearchRequests: 0, picoUsd: 0n, unpriced: 0 };
}

/** Adds `b` into `a`. */
export function add(a: Side, b: Side): void {
  a.input += b.input;
  a.output += b.output;
  a.cacheWrite5m += b.cacheWrite5m;
  a.cacheWrite1h += b.cacheWrite1h;
  a.cacheRead += b.cacheRead;
  a.webSearchRequests += b.webSearchRequests;
  a.picoUsd += b.picoUsd;
  a.unpriced += b.unpriced;
}

export function sideTokens(s: Side): number {
  return s.input + s.output + s.cacheWrite5m + s.cacheWrite1h + s.cacheRead;
}

export interface ReconcileInput {
  by: ReconcileBy;
  /** First day's start and the end of the last day asked for (exclusive), epoch ms UTC. */
  from: number;
  to: number;
  /** The hour both sides end at (the last hour whose data has landed); a day it cuts is incomplete. */
  cutoff: number;
  /** The upstreams compared (Anthropic itself), and those left out (relays), by name. */
  upstreams: readonly string[];
  leftOut: ReadonlyArray<{ name: string; url: string }>;
  /** The store's `upstream_model_key` rows at day granularity, [from, min(to, cutoff)). */
  ours: readonly UsageRow[];
  /** The usage report's rows over the same span (daily buckets, hourly for the incomplete day). */
  theirs: readonly UsageReportRow[];
  /** The cost report's rows over the complete days; null when there is no complete day. */
  cost: readonly CostReportRow[] | null;
  /** For `by: key`: the hints the proxy kept and the organization's keys. */
  keys: { hints: ReadonlyMap<string, string>; apiKeys: readonly ApiKeyRow[] } | null;
  pricer: Pricer;
  /** Gaps the caller knows of (the store's retention), printed with the others. */
  notes: readonly string[];
}

export interface ReconcileRow {
  day: number | null;
  model: string | null;
  /** Anthropic's api_key_id (by key); null for traffic without a key. */
  apiKeyId: string | null;
  keyName: string | null;
  /** Our key ids counted in this row (by key). */
  keyIds: string[];
  incomplete: boolean;
  ours: Side;
  theirs: Side;
}

export interface UnmappedKey {
  keyId: string;
  hint: string | null;
  reason: string;
  ours: Side;
}

export interface Reconciliation {
  input: Pick<ReconcileInput, 'by' | 'from' | 'to' | 'cutoff' | 'upstreams' | 'leftOut' | 'notes'>;
  /** The day the cutoff falls inside, shown through the cutoff; null when every day shown is whole. */
  incompleteDay: number | null;
  rows: ReconcileRow[];
  unmapped: UnmappedKey[];
  total: { ours: Side; theirs: Side };
  /** The complete days' usage report, priced, beside the cost report; null without a complete day. */
  org: { days: number; usageReport: Side; priorityLeftOut: Side; costReport: bigint; ours: Side } | null;
}

/** The canonical id of a model where our table knows it, so `claude-x-4-5` and its dated id meet. */
function modelKey(pricer: Pricer, model: string): string {
  return pricer.resolve(model) ?? model;
}

function theirSide(pricer: Pricer, r: UsageReportRow): Side {
  const counts = {
    input: r.input,
    output: r.output,
    cacheWrite5m: r.cacheWrite5m,
    cacheWrite1h: r.cacheWrite1h,
    cacheRead: r.cacheRead,
    webSearchRequests: r.webSearchRequests,
  };
  const pico = pricer.priceAggregate(r.model, counts, {
    at: r.start,
    serviceTier: r.serviceTier,
    inferenceGeo: r.inferenceGeo,
    longContext: r.contextWindow === '200k-1M',
  });
  return { ...counts, picoUsd: pico ?? 0n, unpriced: pico === null ? 1 : 0 };
}

function ourSide(r: UsageRow): Side {
  const t = r.totals;
  return {
    input: t.tokens.input,
    output: t.tokens.output,
    cacheWrite5m: t.tokens.cache_creation_5m,
    cacheWrite1h: t.tokens.cache_creation_1h,
    cacheRead: t.tokens.cache_read,
    webSearchRequests: t.webSearchRequests,
    picoUsd: t.costPicoUsd,
    unpriced: t.unpriced,
  };
}

const dayOf = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

export function reconcile(i: ReconcileInput): Reconciliation {
  const compared = new Set(i.upstreams);
  const incompleteDay = i.cutoff % DAY_MS !== 0 && i.cutoff > i.from && i.cutoff < i.to ? dayOf(i.cutoff) : null;
  const rows = new Map<string, ReconcileRow>();
  const row = (key: string, init: () => Omit<ReconcileRow, 'ours' | 'theirs'>): ReconcileRow => {
    let r = rows.get(key);
    if (r === undefined) rows.set(key, (r = { ...init(), ours: emptySide(), theirs: emptySide() }));
    return r;
  };
  const plain = (day: number | null, model: string | null) => ({
    day,
    model,
    apiKeyId: null,
    keyName: null,
    keyIds: [],
    incomplete: day !== null && day === incompleteDay,
  });

  // Per key: which of Anthropic's keys each of our key ids is, by the hint the proxy kept.
  const mapping = i.by === 'key' && i.keys !== null ? mapKeys(i.keys.hints, i.keys.apiKeys, i.ours, compared) : null;
  const names = new Map((i.keys?.apiKeys ?? []).map((k) => [k.id, k.name]));
  const unmapped = new Map<string, UnmappedKey>();
  const keyRow = (id: string | null) =>
    row(`key ${id ?? ''}`, () => ({ ...plain(null, null), apiKeyId: id, keyName: id === null ? null : (names.get(id) ?? null) }));

  for (const r of i.ours) {
    const v = parseUpstreamModelKey(r.value);
    if (v === null || !compared.has(v.upstream)) continue;
    const side = ourSide(r);
    if (i.by === 'key') {
      const m = mapping?.get(v.keyId);
      if (m === undefined || m.apiKeyId === null) {
        let u = unmapped.get(v.keyId);
        if (u === undefined) {
          unmapped.set(
            v.keyId,
            (u = { keyId: v.keyId, hint: m?.hint ?? null, reason: m?.reason ?? 'no key list read', ours: emptySide() }),
          );
        }
        add(u.ours, side);
        continue;
      }
      const target = keyRow(m.apiKeyId);
      if (!target.keyIds.includes(v.keyId)) target.keyIds.push(v.keyId);
      add(target.ours, side);
    } else {
      const model = i.by === 'model' ? modelKey(i.pricer, v.model) : null;
      add(row(`${r.start} ${model ?? ''}`, () => plain(r.start, model)).ours, side);
    }
  }
  for (const t of i.theirs) {
    const side = theirSide(i.pricer, t);
    if (i.by === 'key') add(keyRow(t.apiKeyId).theirs, side);
    else {
      const day = dayOf(t.start);
      const model = i.by === 'model' ? modelKey(i.pricer, t.model) : null;
      add(row(`${day} ${model ?? ''}`, () => plain(day, model)).theirs, side);
    }
  }

  const sorted = [...rows.values()].sort(
    (a, b) =>
      (a.day ?? 0) - (b.day ?? 0) ||
      (i.by === 'key' ? compareBig(b.theirs.picoUsd, a.theirs.picoUsd) : 0) ||
      compareText(a.model ?? a.apiKeyId ?? '', b.model ?? b.apiKeyId ?? ''),
  );
  const total = { ours: emptySide(), theirs: emptySide() };
  for (const r of sorted) {
    add(total.ours, r.ours);
    add(total.theirs, r.theirs);
  }
  for (const u of unmapped.values()) add(total.ours, u.ours);
  return {
    input: { by: i.by, from: i.from, to: i.to, cutoff: i.cutoff, upstreams: i.upstreams, leftOut: i.leftOut, notes: i.notes },
    incompleteDay,
    rows: sorted,
    unmapped: [...unmapped.values()].sort((a, b) => compareBig(b.ours.picoUsd, a.ours.picoUsd) || compareText(a.keyId, b.keyId)),
    total,
    org: orgTotal(i, compared),
  };
}

/** Our key id → Anthropic's key, or why not: no hint kept, a hint no key shows, a hint two keys show. */
export function mapKeys(
  hints: ReadonlyMap<string, string>,
  apiKeys: readonly ApiKeyRow[],
  ours: readonly UsageRow[],
  compared: ReadonlySet<string>,
): Map<string, { apiKeyId: string | null; hint: string | null; reason: string }> {
  const byHint = new Map<string, string[]>();
  for (const k of apiKeys) if (k.partialKeyHint !== null) byHint.set(k.partialKeyHint, [...(byHint.get(k.partialKeyHint) ?? []), k.id]);
  const ourIds = new Set<string>();
  for (const r of ours) {
    const v = parseUpstreamModelKey(r.value);
    if (v !== null && compared.has(v.upstream)) ourIds.add(v.keyId);
  }
  const idsPerHint = new Map<string, number>();
  for (const id of ourIds) {
    const h = hints.get(id);
    if (h !== undefined) idsPerHint.set(h, (idsPerHint.get(h) ?? 0) + 1);
  }
  const out = new Map<string, { apiKeyId: string | null; hint: string | null; reason: string }>();
  for (const id of ourIds) {
    const hint = hints.get(id) ?? null;
    const keys = hint === null ? [] : (byHint.get(hint) ?? []);
    if (hint === null)
      out.set(id, { apiKeyId: null, hint, reason: 'no hint kept (not an Anthropic API key, or the proxy predates hints)' });
    else if (keys.length === 0)
      out.set(id, { apiKeyId: null, hint, reason: "no key of the organization shows this hint (another organization's, or deleted)" });
    else if (keys.length > 1 || (idsPerHint.get(hint) ?? 0) > 1)
      out.set(id, { apiKeyId: null, hint, reason: 'ambiguous: two keys show this hint' });
    else out.set(id, { apiKeyId: keys[0] ?? null, hint, reason: 'mapped' });
  }
  return out;
}

/**
 * The complete days: the usage report priced by our table (priority tier left out: the cost report
 * has none) beside the cost report's sum, and what we metered on those days.
 */
function orgTotal(i: ReconcileInput, compared: ReadonlySet<string>): Reconciliation['org'] {
  if (i.cost === null) return null;
  const end = Math.min(i.to, dayOf(i.cutoff));
  if (end <= i.from) return null;
  const usageReport = emptySide();
  const priorityLeftOut = emptySide();
  for (const t of i.theirs) {
    if (t.start >= end || t.start < i.from) continue;
    add(t.serviceTier === 'priority' ? priorityLeftOut : usageReport, theirSide(i.pricer, t));
  }
  let costReport = 0n;
  for (const c of i.cost) if (c.start >= i.from && c.start < end) costReport += c.picoUsd;
  const ours = emptySide();
  for (const r of i.ours) {
    const v = parseUpstreamModelKey(r.value);
    if (v !== null && compared.has(v.upstream) && r.start < end) add(ours, ourSide(r));
  }
  return { days: (end - i.from) / DAY_MS, usageReport, priorityLeftOut, costReport, ours };
}

/** ours ÷ theirs by list price; by tokens where a side has unpriced rows; null when theirs is 0. */
export function capture(ours: Side, theirs: Side): { ratio: number | null; basis: 'cost' | 'tokens' } {
  if (ours.unpriced === 0 && theirs.unpriced === 0) {
    return { ratio: theirs.picoUsd === 0n ? null : ratio(ours.picoUsd, theirs.picoUsd), basis: 'cost' };
  }
  const t = sideTokens(theirs);
  return { ratio: t === 0 ? null : sideTokens(ours) / t, basis: 'tokens' };
}

/** a ÷ b of two bigints as a double, exact enough for a percentage at any size. */
export function ratio(a: bigint, b: bigint): number {
  return Number((a * 1_000_000n) / b) / 1_000_000;
}

export function diffJson(ours: Side, theirs: Side) {
  const c = capture(ours, theirs);
  const dPico = ours.picoUsd - theirs.picoUsd;
  return {
    tokens: sideTokens(ours) - sideTokens(theirs),
    cost_usd: picoToUsd(dPico),
    cost_pico_usd: dPico.toString(),
    percent: theirs.picoUsd === 0n ? null : Math.round(ratio(dPico * 100n, theirs.picoUsd) * 100) / 100,
    capture: c.ratio === null ? null : Math.round(c.ratio * 10_000) / 10_000,
    capture_basis: c.basis,
  };
}

export function sideJson(s: Side) {
  return {
    tokens: {
      input: s.input,
      output: s.output,
      cache_creation_5m: s.cacheWrite5m,
      cache_creation_1h: s.cacheWrite1h,
      cache_read: s.cacheRead,
    },
    web_search_requests: s.webSearchRequests,
    cost_usd: picoToUsd(s.picoUsd),
    cost_pico_usd: s.picoUsd.toString(),
    unpriced: s.unpriced,
  };
}

function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
