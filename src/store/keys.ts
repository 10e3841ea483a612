/**
 * The Redis key schema, in one place. Pure: values in, strings out.
 *
 * Layout (prefix `cm`):
 *   {cm}:agg:<dim>:<hourStartSec>   hash, one per (dimension, UTC hour); each field is a bucket:
 *                                   `<minuteOfHour>|<counter>|<value>` → integer (billed amounts:
 *                                   one counter per currency, `bill:CNY`)
 *   {cm}:events                     stream of request records (XADD MAXLEN ~)
 *   {cm}:seen:<minuteStartSec>      set of the record ids written for that minute (by record time),
 *                                   TTL refreshed on write: makes writes idempotent
 *   {cm}:keyhints                   hash: key id → the key's partial hint (`sk-ant-api03-R2D...igAA`),
 *                                   at most MAX_KEY_HINTS fields, no TTL
 *
 * Minutes live as fields inside an hour hash, so a day of history for one dimension is
 * 24 HGETALLs in one pipeline instead of 1,440 key reads.
 *
 * Why the `{…}` hash tag: a batch of records is written by one Lua script touching the
 * dedupe sets, the stream and the hour hashes of all its records, and Redis Cluster refuses
 * a script (or a pipeline) whose keys span slots (CROSSSLOT). Hashing only the tag puts
 * every key of a prefix in one slot. The cost is that one prefix lives on one shard; the
 * Recorder's group commit sends one script per batch of records, far below what a single
 * shard sustains.
 */
import { CURRENCY_CODE } from '../core/money.ts';
import { HOUR_MS, MINUTE_MS } from '../core/time.ts';
import { DEFAULT_PREFIX } from '../redis/prefix.ts';
import type { Dimension, RequestRecord } from './types.ts';

const HOUR_SEC = HOUR_MS / 1000;

/**
 * How long a written record id is remembered (6 h). A replayed record is deduped only
 * within this window, so it must outlive a record's stay in the Recorder's journal.
 */
export const DEFAULT_DEDUPE_TTL_SECONDS = 6 * HOUR_SEC;

/** Every dimension a record is aggregated under; `all` has the single value `*`. */
export const DIMENSIONS = ['all', 'model', 'key', 'tag', 'upstream', 'upstream_model_key'] as const satisfies readonly Dimension[];

/**
 * Dimensions recorded per hour, not per minute: every record of an hour adds to the fields of
 * minute 0. `upstream_model_key` is a product of three values (what `reconcile` compares with
 * Anthropic's usage report, which is per day or hour); per hour it holds a 60th of the fields a
 * per-minute dimension would, so it costs less memory than `key` does while fewer than 60 models
 * share a key. Its rows start on the hour at every granularity.
 */
export const HOURLY_DIMENSIONS: ReadonlySet<Dimension> = new Set<Dimension>(['upstream_model_key']);

/** The minute of its hour a record's field is written at in `dim`. */
export function fieldMinute(dim: Dimension, minute: number): number {
  return HOURLY_DIMENSIONS.has(dim) ? 0 : minute;
}

/**
 * The value of `upstream_model_key`: `<upstream> <key id> <model>`, the first two URI-encoded (an
 * upstream is a config name, any text), the model last, so it may hold any character.
 */
export function upstreamModelKey(upstream: string, keyId: string, model: string): string {
  return `${encodeURIComponent(upstream)} ${encodeURIComponent(keyId)} ${model}`;
}

/** The parts of an `upstream_model_key` value; null for a value this schema did not write. */
export function parseUpstreamModelKey(value: string): { upstream: string; keyId: string; model: string } | null {
  const a = value.indexOf(' ');
  const b = a < 0 ? -1 : value.indexOf(' ', a + 1);
  if (a <= 0 || b < 0) return null;
  try {
    return { upstream: decodeURIComponent(value.slice(0, a)), keyId: decodeURIComponent(value.slice(a + 1, b)), model: value.slice(b + 1) };
  } catch {
    return null;
  }
}

/**
 * The counters of a bucket, as the codes written in its hash field (not Prometheus
 * metrics). Short because they repeat in every hash field; stable because they are
 * persisted — renaming one orphans stored history.
 */
export const COUNTERS = {
  requests: 'req',
  errors: 'err',
  partial: 'part',
  usageMissing: 'miss',
  unpriced: 'unpr',
  input: 'in',
  output: 'out',
  cache_creation_5m: 'cw5m',
  cache_creation_1h: 'cw1h',
  cache_read: 'cr',
  webSearchRequests: 'ws',
  costPicoUsd: 'cost',
  billedUnpriced: 'bunpr',
} as const;
export type CounterField = (typeof COUNTERS)[keyof typeof COUNTERS];

/**
 * The billed amount is one counter per currency, `bill:<ISO 4217 code>` (`bill:CNY`): a record
 * adds to the counter of its upstream's currency. The code comes from the config and is checked
 * (assertValidRecord), so the set of counters stays as small as the configured currencies.
 */
export type BilledCounter = `bill:${string}`;
/** Any counter a record adds to. */
export type BucketCounter = CounterField | BilledCounter;
const BILLED_PREFIX = 'bill:';

/** Built once per currency, not once per record (records are validated first, so only ISO codes get here). */
const billedCounters = new Map<string, BilledCounter>();

export function billedCounter(currency: string): BilledCounter {
  let c = billedCounters.get(currency);
  if (c === undefined) billedCounters.set(currency, (c = `${BILLED_PREFIX}${currency}`));
  return c;
}

/** The currency of a `bill:<code>` counter, or null for any other counter. */
export function billedCurrency(counter: string): string | null {
  if (!counter.startsWith(BILLED_PREFIX)) return null;
  const code = counter.slice(BILLED_PREFIX.length);
  return CURRENCY_CODE.test(code) ? code : null;
}

export interface KeySchema {
  /** The hash-tagged prefix every key starts with, e.g. `{cm}`. */
  readonly tagged: string;
  /** The record stream. */
  readonly records: string;
  agg(dim: Dimension, hourStartSec: number): string;
  /** The dedupe set for records whose time falls in the minute starting at `minuteStartSec`. */
  seen(minuteStartSec: number): string;
  /** Hash of key id → the key's partial hint (MeterStore.saveKeyHint). */
  readonly keyHints: string;
}

/**
 * Wraps the prefix in a hash tag (`cm` → `{cm}`). A prefix that already has a `{` is
 * taken as choosing its own tag (`app:{cm}`) and must then hold a valid one by Redis's
 * rule (first `{`, then the next `}`, non-empty between): otherwise the tag would be
 * decided by the rest of each key (a model or tag name) and scatter keys across slots.
 */
export function keySchema(prefix: string = DEFAULT_PREFIX): KeySchema {
  if (prefix.length === 0) throw new RangeError('store prefix must not be empty');
  const open = prefix.indexOf('{');
  if (open >= 0 && !(prefix.indexOf('}', open + 1) > open + 1)) {
    throw new RangeError(`store prefix ${JSON.stringify(prefix)} has a '{' but no valid Redis Cluster hash tag`);
  }
  const tagged = open >= 0 ? prefix : `{${prefix}}`;
  return {
    tagged,
    // Still `events` in Redis: key names are stored data, read by every build and by operators.
    records: `${tagged}:events`,
    agg: (dim, hourStartSec) => `${tagged}:agg:${dim}:${hourStartSec}`,
    seen: (minute) => `${tagged}:seen:${minute}`,
    keyHints: `${tagged}:keyhints`,
  };
}

/** Start of the UTC minute containing `ts` (epoch ms). */
export function minuteStart(ts: number): number {
  return Math.floor(ts / MINUTE_MS) * MINUTE_MS;
}

/** Start of the UTC hour containing `ts`, in epoch seconds (the hash key suffix). */
export function hourStartSec(ts: number): number {
  return Math.floor(ts / HOUR_MS) * HOUR_SEC;
}

/** 0..59: which minute of its hour `ts` falls in (the hash field's first part). */
export function minuteOfHour(ts: number): number {
  return Math.floor((ts % HOUR_MS) / MINUTE_MS);
}

/** Largest range one query may span, so a typo cannot pipeline a million HGETALLs. */
export const MAX_QUERY_HOURS = 24 * 400;

/** Hour starts (epoch s) of every hour hash that can hold a minute in [from, to). */
export function hourStartsInRange(from: number, to: number): number[] {
  const first = hourStartSec(minuteStart(from));
  const out: number[] = [];
  for (let h = first; h * 1000 < to; h += HOUR_SEC) {
    if (out.length >= MAX_QUERY_HOURS) {
      throw new RangeError(`query spans more than ${MAX_QUERY_HOURS} hours`);
    }
    out.push(h);
  }
  return out;
}

/** The value a record is aggregated under for `dim`. */
export function dimensionValue(dim: Dimension, r: RequestRecord): string {
  switch (dim) {
    case 'all':
      return '*';
    case 'model':
      return r.model ?? 'unknown';
    case 'key':
      return r.keyId;
    case 'tag':
      return r.tag === '' ? 'untagged' : r.tag;
    case 'upstream':
      return r.upstream;
    case 'upstream_model_key':
      return upstreamModelKey(r.upstream, r.keyId, r.model ?? 'unknown');
  }
}

/** A bucket's hash field. Value goes last so it may contain any character, `|` included. */
export function bucketField(minute: number, counter: BucketCounter, value: string): string {
  return `${minute}|${counter}|${value}`;
}

export interface ParsedField {
  minute: number;
  /** Not narrowed to CounterField: a newer version may write counters this one does not know. */
  counter: string;
  value: string;
}

/** Splits on the first two `|` only; null for a field this schema did not write. */
export function parseBucketField(field: string): ParsedField | null {
  const a = field.indexOf('|');
  const b = a < 0 ? -1 : field.indexOf('|', a + 1);
  if (a <= 0 || b < 0) return null;
  const minute = Number(field.slice(0, a));
  if (!Number.isInteger(minute) || minute < 0 || minute > 59) return null;
  return { minute, counter: field.slice(a + 1, b), value: field.slice(b + 1) };
}

/** Key ids whose hint a store keeps, at most: a bound on memory whatever keys clients send. */
export const MAX_KEY_HINTS = 10_000;

/**
 * The shape of a partial key hint: `sk-ant-`, 9 more characters, `...`, the last 4 (Anthropic's
 * `partial_key_hint`). Checked before a store keeps one, so nothing longer (a raw key) is ever kept.
 */
const KEY_HINT = /^sk-ant-[A-Za-z0-9_-]{9}\.\.\.[A-Za-z0-9_-]{4}$/;

export function assertKeyHint(keyId: string, hint: string): void {
  if (typeof keyId !== 'string' || keyId.length === 0 || keyId.length > 64) throw new RangeError('key id must be 1 to 64 characters');
  if (typeof hint !== 'string' || !KEY_HINT.test(hint)) throw new RangeError('a key hint is sk-ant-, 9 characters, ..., and 4 characters');
}
