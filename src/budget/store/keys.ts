/**
 * Budget key schema and the input checks both budget stores share. Pure: values in, strings out.
 *
 * Layout (prefix `cm`, every name part URI-encoded, see `enc`):
 *   {cm:budget}:i:<budget>:<instance>:<windowId>        hash: s, t (calendar spent pico/tokens),
 *                                                       r, rt (reserved pico/tokens, leases included),
 *                                                       rc (recalled until, ms: a request waits for leased headroom),
 *                                                       b:<segmentStartMs>, bt:<…> (rolling spent per segment)
 *   {cm:budget}:i:<budget>:<instance>:<windowId>:res    zset: reservation id → expiry (epoch ms); a proxy's lease is `lease:<holder>`
 *   {cm:budget}:i:<budget>:<instance>:<windowId>:resv   hash: reservation id → "<pico>:<tokens>"
 *   {cm:budget}:n:<budget>:<windowId>                   set of instance (scope) values with state
 *   {cm:budget}:a:<budget>:<instance>:<windowId>:<thr>  alert claim (SET NX)
 *   {cm:budget}:d:<0..63>                               zset: settled request (or lease batch) id → when it is forgotten (ms);
 *                                                       settle idempotency, 64 sets picked by the id
 *   {cm:budget}:hh:<budget>:<instance>                  hash: hour start ms → pico (spend history, 40 days)
 *   {cm:budget}:hm:<budget>:<instance>:<hourStartMs>    hash: minute start ms → pico (spike detail, 3 hours)
 *   {cm:budget}:tb:<bucket>                             hash: l, ts (pacing token bucket)
 *   {cm:budget}:fl:<key>, {cm:budget}:fc:<key>          refit lock, published forecast path (JSON)
 *   {cm:budget}:si:<key>                                spike incident claim of a budget instance (one alert per incident)
 *   {cm:budget}:wake                                    (sharded) pub/sub channel: settles that released a reservation
 * Hash field names are short because they repeat, and stable because they are persisted.
 *
 * One hash tag for all budget state of a prefix: a request touches several budgets (global,
 * its key, its tag, its model) and its admission must be one atomic script, which Redis
 * Cluster only runs when every key is in one hash slot. The cost is that all budget state lives
 * on one shard; budget operations are a few tiny hash/zset updates per request, far below
 * what one shard sustains. `{cm:budget}` differs from the meter's `{cm}`, so the two can
 * land on different shards.
 */
import { CURRENCY_CODE } from '../../core/money.ts';
import { DAY_MS, HOUR_MS } from '../../core/time.ts';
import type { Amount, InstanceRef, LeaseEntry, WindowInstance } from '../types.ts';

/** Keys outlive their window by this much (late settles, reading yesterday's totals). */
export const KEY_SLACK_MS = DAY_MS;

/** The keys of one (budget, instance, window). `set` is the instance listing it joins. */
export interface InstanceKeys {
  hash: string;
  res: string;
  resv: string;
  set: string;
  /** Settled spend per hour (field: hour start ms), across windows: the forecaster's history. */
  hourly: string;
  /** Settled spend per minute of one hour (field: minute start ms): spike detection. */
  minutes(hourStart: number): string;
}

export { RECALL_MS } from '../types.ts';

/** The reservation ids a holder's lease takes on an instance: its unused part, and what requests admitted from it hold. */
export const leaseId = (holder: string): string => `lease:${holder}`;
export const leaseHeldId = (holder: string): string => `lease:${holder}:f`;

/**
 * A lease grant: up to `want`, within `1/share` of what is left after `keep`; nothing below
 * `min`. `limit` < 0 (or null): unlimited, `want` in full.
 */
export function leaseGrant(
  limit: number | null,
  spent: number,
  reserved: number,
  keep: number,
  want: number,
  min: number,
  share: number,
): number {
  if (want <= 0) return 0;
  if (limit === null || limit < 0) return want;
  const g = Math.min(want, Math.floor((limit - spent - reserved - keep) / share));
  return g <= 0 || g < min ? 0 : g;
}

/** Forecast history is kept 40 days (a month window plus a week of seasonality); minute detail 3 hours. */
export const HOURLY_HISTORY_TTL_MS = 40 * DAY_MS;
export const MINUTE_HISTORY_TTL_MS = 3 * HOUR_MS;

export interface BudgetKeys {
  /** The hash-tagged prefix every key starts with, e.g. `{cm:budget}`. */
  readonly tagged: string;
  instance(ref: InstanceRef): InstanceKeys;
  /** `instance(ref).hash` alone: the name a wake-up or a recall gives an instance, asked for on every admission. */
  hashOf(ref: InstanceRef): string;
  instanceSet(budget: string, windowId: string): string;
  alert(ref: InstanceRef, threshold: number): string;
  /** Refit lock and published forecast of one budget instance and window. */
  refitLock(key: string): string;
  forecast(key: string): string;
  /** Claim of a spike incident on one budget instance: one alert across proxies. */
  incidentClaim(key: string): string;
  /** Pacing token bucket (hash: level, ts). */
  paceBucket(bucket: string): string;
  /** The set that marks request `id` settled: makes a retried settle (after an ambiguous failure) a no-op. */
  settled(id: string): string;
  /** Pub/sub channel of settles that released a reservation (message: the instance's hash key). In the budget slot. */
  readonly wake: string;
}

/**
 * encodeURIComponent escapes `:`, `{`, `}` and `%`, so an encoded part never contains the
 * separator: budget `a:b` + instance `c` and budget `a` + instance `b:c` get different keys,
 * and no part can end the hash tag early.
 */
const enc = (s: string): string => encodeURIComponent(s);

/**
 * Any non-empty prefix works: whatever `{`/`}` it holds, the tag Redis hashes is decided by
 * the prefix and the fixed `:budget}` after it, never by a budget or instance name.
 */
export function budgetKeySchema(prefix: string): BudgetKeys {
  if (prefix.length === 0) throw new RangeError('budget key prefix must not be empty');
  const tagged = `{${prefix}:budget}`;
  const instanceSet = (budget: string, windowId: string): string => `${tagged}:n:${enc(budget)}:${enc(windowId)}`;
  const hashOf = (ref: InstanceRef): string => `${tagged}:i:${enc(ref.budget)}:${enc(ref.instance)}:${enc(ref.window.id)}`;
  return {
    tagged,
    instance(ref) {
      const hash = hashOf(ref);
      const hist = `${tagged}:hh:${enc(ref.budget)}:${enc(ref.instance)}`;
      return {
        hash,
        res: `${hash}:res`,
        resv: `${hash}:resv`,
        set: instanceSet(ref.budget, ref.window.id),
        hourly: hist,
        minutes: (hourStart) => `${tagged}:hm:${enc(ref.budget)}:${enc(ref.instance)}:${hourStart}`,
      };
    },
    hashOf,
    instanceSet,
    settled: (id) => `${tagged}:d:${settledSet(id)}`,
    wake: `${tagged}:wake`,
    paceBucket: (bucket) => `${tagged}:tb:${enc(bucket)}`,
    refitLock: (key) => `${tagged}:fl:${enc(key)}`,
    forecast: (key) => `${tagged}:fc:${enc(key)}`,
    incidentClaim: (key) => `${tagged}:si:${enc(key)}`,
    alert: (ref, threshold) => `${tagged}:a:${enc(ref.budget)}:${enc(ref.instance)}:${enc(ref.window.id)}:${enc(String(threshold))}`,
  };
}

/**
 * Which of the 64 settled-id sets holds `id` (FNV-1a): a fixed number of keys however many
 * requests settle, and no set so large that trimming it is slow.
 */
function settledSet(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 64;
}

/** Start of the segment `now` falls in (rolling windows; a calendar window is one segment). */
export function segmentStart(now: number, segmentMs: number): number {
  return Math.floor(now / segmentMs) * segmentMs;
}

/** When state written at `now` may be dropped: calendar end + slack, or rolling length + slack after now. */
export function instanceExpiresAt(window: WindowInstance, now: number): number {
  return window.rollingMs === null ? Math.max(window.end, now) + KEY_SLACK_MS : now + window.rollingMs + KEY_SLACK_MS;
}

/** Key TTL (s, ≥ 1) for state written at `now`; relative, so it holds whatever clock `now` comes from. */
export function instanceTtlSec(window: WindowInstance, now: number): number {
  return Math.max(1, Math.ceil((instanceExpiresAt(window, now) - now) / 1000));
}

/**
 * Alert claim TTL (s). claimAlert gets no `now`, so use the window length + slack: the claim
 * is made inside the window, hence this lasts at least until end + slack (rolling: length + slack).
 */
export function alertTtlSec(window: WindowInstance): number {
  return Math.max(1, Math.ceil((window.end - window.start + KEY_SLACK_MS) / 1000));
}

// ---- input checks, shared so both stores reject exactly the same calls ----

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isLimit = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

export function assertNow(now: number): void {
  if (!isCount(now)) throw new RangeError(`now must be a non-negative integer (epoch ms), got ${now}`);
}

export function assertAmount(a: Amount, what: string): void {
  if (!isCount(a.pico) || !isCount(a.tokens)) {
    throw new RangeError(`${what} must be non-negative safe integers, got pico=${a.pico} tokens=${a.tokens}`);
  }
}

/** One amount per ref (each in its ref's currency), each a pair of non-negative safe integers. */
export function assertAmounts(amounts: readonly Amount[], refs: readonly InstanceRef[], what: string): void {
  if (!Array.isArray(amounts) || amounts.length !== refs.length)
    throw new RangeError(
      `${what} must have one entry per ref (${refs.length}), got ${Array.isArray(amounts) ? amounts.length : typeof amounts}`,
    );
  for (const [i, a] of amounts.entries()) assertAmount(a, `${what}[${i}]`);
}

/** One pico amount per ref, as recordDemand takes them. */
export function assertPicos(pico: readonly number[], refs: readonly InstanceRef[]): void {
  if (!Array.isArray(pico) || pico.length !== refs.length)
    throw new RangeError(`demand must have one entry per ref (${refs.length}), got ${Array.isArray(pico) ? pico.length : typeof pico}`);
  pico.forEach((p, i) => {
    if (!isCount(p)) throw new RangeError(`demand[${i}] must be a non-negative safe integer, got ${p}`);
  });
}

export function assertId(id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new RangeError('reservation id must be a non-empty string');
}

export function assertTtl(ms: number): void {
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`reservation ttl must be a positive integer (ms), got ${ms}`);
}

/**
 * Amounts must be safe integers (one request never costs 9,007 units of a ref's currency). Limits need only be
 * non-negative integers: config allows up to $1e9 (1e21 pico), far past 2^53 pico ($9,007),
 * and a limit is only ever compared, never stored. Stored totals are exact int64 in Redis;
 * read back as doubles they are exact below 2^53 and within one ulp (4 pico at $20k) above,
 * so past $9,007 the limit check is exact to a few pico. Spend past int64 ($9.2M per window
 * instance) makes HINCRBY fail (a store error), never wrap.
 * Duplicate refs are refused: settling one twice would count its spend twice.
 */
export function assertRefs(refs: readonly InstanceRef[], keys: BudgetKeys): void {
  const seen = new Set<string>();
  refs.forEach((ref, i) => {
    const w = ref.window;
    const bad = (msg: string): never => {
      throw new RangeError(`budget ref ${i} (${JSON.stringify(ref.budget)}): ${msg}`);
    };
    if (typeof ref.budget !== 'string' || ref.budget.length === 0) bad('budget name must be non-empty');
    if (typeof ref.instance !== 'string') bad('instance must be a string');
    if (typeof w.id !== 'string' || w.id.length === 0) bad('window id must be non-empty');
    if (!Number.isSafeInteger(w.start) || !Number.isSafeInteger(w.end) || w.end < w.start)
      bad('window start/end must be integers, start <= end');
    if (!Number.isSafeInteger(w.segmentMs) || w.segmentMs <= 0) bad('segmentMs must be a positive integer');
    if (w.rollingMs !== null && !(Number.isSafeInteger(w.rollingMs) && w.rollingMs >= w.segmentMs)) {
      bad('rollingMs must be an integer >= segmentMs');
    }
    if (typeof ref.currency !== 'string' || !CURRENCY_CODE.test(ref.currency)) bad('currency must be an ISO 4217 code (USD, CNY, ...)');
    if (ref.limitPico !== null && !isLimit(ref.limitPico)) bad('limitPico must be null or a non-negative integer');
    if (ref.limitTokens !== null && !isLimit(ref.limitTokens)) bad('limitTokens must be null or a non-negative integer');
    if (typeof ref.enforce !== 'boolean') bad('enforce must be a boolean');
    const hash = keys.instance(ref).hash;
    if (seen.has(hash)) bad('the same (budget, instance, window) appears twice');
    seen.add(hash);
  });
}

/** Whether adding `amount` on top of spent + reserved stays within `limit` (null: no limit). */
export function fits(limit: number | null, spent: number, reserved: number, amount: number): boolean {
  return limit === null || spent + reserved + amount <= limit;
}

/** A lease sync's input: refs as assertRefs, amounts as assertAmount, a positive integer share. */
export function assertLease(
  holder: string,
  batch: string,
  entries: readonly LeaseEntry[],
  share: number,
  ttl: { ttlMs: number; heldTtlMs: number },
  keys: BudgetKeys,
): void {
  if (typeof holder !== 'string' || holder.length === 0) throw new RangeError('lease holder must be a non-empty string');
  assertId(batch);
  if (!Number.isSafeInteger(share) || share < 1) throw new RangeError(`lease share must be a positive integer, got ${share}`);
  assertTtl(ttl.ttlMs);
  assertTtl(ttl.heldTtlMs);
  assertRefs(
    entries.map((e) => e.ref),
    keys,
  );
  entries.forEach((e, i) => {
    for (const k of ['spent', 'held', 'keep', 'want', 'min'] as const) assertAmount(e[k], `lease entry ${i} ${k}`);
  });
}
