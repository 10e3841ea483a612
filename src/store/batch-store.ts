/**
 * The batch store: what metering a Message Batch needs to remember between its create call and
 * the download of its results, which may come weeks later, through another proxy, more than
 * once, or cut and retried. Its three jobs:
 *
 * - the batch's origin (the key id, tag and upstream of the create call, its expiry and the
 *   budget hold made then), so its results are recorded under the caller who created it;
 * - the custom_ids already claimed, so each result line is recorded once across every proxy and
 *   every download (`claim`);
 * - the hold's settle, exactly once: by the results' cost, or by the sweeper at its estimate
 *   when the batch expired without its results being seen (`settleHold`, `dueHolds`).
 *
 * Two adapters pass one contract (test/contract/batch-store.contract.ts): memory (one proxy,
 * lost on restart) and Redis (shared, single node or Cluster). Every operation takes `now`
 * (epoch ms): lifetimes are computed from it, never from a clock of the store's own.
 * Key layout: see `batchKeySchema` below.
 */
import { bounded, MAX_NAME_CHARS } from '../core/bound.ts';
import { DAY_MS } from '../core/time.ts';

/** Results can be downloaded for 29 days after a batch ends (Anthropic's Message Batches documentation). */
export const RESULTS_LIFE_MS = 29 * DAY_MS;
/** Kept this much longer than needed: clock skew between proxies, and a download that starts on the last day. */
export const BATCH_SLACK_MS = DAY_MS;
/** A batch holds at most 100,000 requests (the API's limit), so at most that many custom_ids are ever claimed for one. */
export const MAX_BATCH_REQUESTS = 100_000;
/** The API's bound on a custom_id; the reader (api/anthropic/batch-results.ts) returns no longer one. */
export const MAX_CUSTOM_ID_CHARS = 64;
/** The bound on a hold's JSON: a reservation's refs and amounts on every budget that matched. */
export const MAX_HOLD_JSON_CHARS = 64 * 1024;
/** Batch ids are `msgbatch_…`: letters, digits, `_` and `-`. Anything else is refused (it names a Redis key). */
const BATCH_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** What the create call knew. */
export interface BatchOrigin {
  /** The creating caller's key id (already a hash; never a raw key). */
  keyId: string;
  tag: string;
  /** The configured upstream the batch was created on. */
  upstream: string;
  /** The batch's `created_at` and `expires_at`, epoch ms. */
  createdAt: number;
  expiresAt: number;
  /**
   * The budget reservation made at create, as the lead's budget wiring describes it (opaque
   * JSON: refs and amounts), or null when no budget held anything. At most MAX_HOLD_JSON_CHARS.
   */
  hold: unknown;
}

/** What the store knows of a batch. */
export interface BatchState {
  /** Null when the batch was not created through a proxy sharing this store (only its end was seen). */
  origin: BatchOrigin | null;
  /** The batch's `ended_at` (epoch ms), the first one noted; null until one is. */
  endedAt: number | null;
  /** The hold was settled (by the results, or by the sweeper at its estimate). */
  holdSettled: boolean;
  /** What its result lines counted so far (pico-units of the billing upstream's currency), across downloads and proxies. */
  counted: number;
}

/** A batch whose hold is still unsettled after its expiry. */
export interface DueHold {
  batchId: string;
  origin: BatchOrigin;
}

export interface ClaimResult {
  /** The ids claimed by this call: never claimed before, by any proxy. Input order, each once. */
  claimed: string[];
  /**
   * Ids neither claimed now nor before: not a custom_id (empty, longer than 64 characters), or
   * past MAX_BATCH_REQUESTS for the batch (only a broken or hostile upstream sends that many).
   * Record or log them: they were refused, not counted.
   */
  ignored: number;
}

export interface BatchStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Remembers a created batch until its results can no longer be downloaded (expiresAt + 29
   * days + a day). Idempotent: the first origin sticks, a second call changes nothing.
   */
  remember(batchId: string, origin: BatchOrigin, now: number): Promise<void>;
  /** Notes the batch's `ended_at` (from any batch object the proxy forwards); the first value sticks. */
  noteEnded(batchId: string, endedAt: number, now: number): Promise<void>;
  /** What is known of the batch, or null when nothing is. */
  info(batchId: string, now: number): Promise<BatchState | null>;
  /** Of `customIds`, those claimed now for the first time, across every proxy sharing the store. */
  claim(batchId: string, customIds: readonly string[], now: number): Promise<ClaimResult>;
  /**
   * Every line of the batch's results has been claimed (a download read to its end, every
   * claim answered): its ids are dropped and every later claim for the batch claims nothing.
   * Frees what a batch's ids hold for the rest of its 29 days.
   */
  claimedAll(batchId: string, now: number): Promise<void>;
  /**
   * Adds what claimed result lines counted (pico-units, the batch's billing currency): a hold
   * spent at its estimate after a download was cut spends only the rest. Only for a known batch.
   */
  addCounted(batchId: string, pico: number, now: number): Promise<void>;
  /** True for the first caller only, across proxies, and only for a batch remembered with a hold. */
  settleHold(batchId: string, now: number): Promise<boolean>;
  /** Up to `limit` batches whose hold is unsettled and whose `expiresAt` is at or before `now`, earliest first. */
  dueHolds(now: number, limit: number): Promise<DueHold[]>;
  close(): Promise<void>;
}

/** When what is known of a batch may be forgotten: its results can no longer be downloaded. */
export function originUntil(origin: BatchOrigin): number {
  return origin.expiresAt + RESULTS_LIFE_MS + BATCH_SLACK_MS;
}

/** A download at `now` proves the batch ended by then: its results are gone by now + 29 days. */
export function claimsUntil(now: number): number {
  return now + RESULTS_LIFE_MS + BATCH_SLACK_MS;
}

export function endedUntil(endedAt: number): number {
  return endedAt + RESULTS_LIFE_MS + BATCH_SLACK_MS;
}

export function assertBatchId(batchId: string): void {
  if (typeof batchId !== 'string' || !BATCH_ID.test(batchId)) {
    throw new RangeError(`not a batch id: ${JSON.stringify(bounded(String(batchId), 80))}`);
  }
}

export function assertNow(now: number): void {
  if (!Number.isSafeInteger(now) || now < 0) throw new RangeError(`now must be epoch ms, got ${now}`);
}

function assertName(field: string, v: unknown): void {
  if (typeof v !== 'string' || v.length > MAX_NAME_CHARS)
    throw new RangeError(`batch origin ${field} must be a string of at most ${MAX_NAME_CHARS} characters`);
}

/** Checks an origin and returns its JSON (what both adapters store). */
export function encodeOrigin(origin: BatchOrigin): string {
  assertName('keyId', origin.keyId);
  assertName('tag', origin.tag);
  assertName('upstream', origin.upstream);
  assertNow(origin.createdAt);
  assertNow(origin.expiresAt);
  const hold = JSON.stringify(origin.hold ?? null) ?? 'null';
  if (hold.length > MAX_HOLD_JSON_CHARS) throw new RangeError(`batch origin hold passes ${MAX_HOLD_JSON_CHARS} characters of JSON`);
  const { keyId, tag, upstream, createdAt, expiresAt } = origin;
  const json = JSON.stringify({ keyId, tag, upstream, createdAt, expiresAt, hold: JSON.parse(hold) });
  return json;
}

/** An origin read back; null for a value this version did not write. */
export function decodeOrigin(json: string): BatchOrigin | null {
  try {
    const o = JSON.parse(json) as BatchOrigin;
    if (typeof o.keyId !== 'string' || typeof o.expiresAt !== 'number') return null;
    return o;
  } catch {
    return null;
  }
}

/** A custom_id the store may claim: 1 to 64 characters. */
export function isCustomId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_CUSTOM_ID_CHARS;
}

/**
 * The member that marks a batch's ids all claimed (`claimedAll`): 65 characters, so no
 * custom_id can be it.
 */
export const ALL_CLAIMED = '*'.repeat(MAX_CUSTOM_ID_CHARS + 1);

export interface BatchKeys {
  /** Hash: `o` origin JSON, `h` 1 when it holds a budget hold, `e` ended_at ms, `s` 1 once the hold is settled. */
  state(batchId: string): string;
  /** Set of the batch's claimed custom_ids (or only ALL_CLAIMED). */
  claims(batchId: string): string;
  /** Sorted set: batch id → expiresAt (ms), for batches with an unsettled hold. */
  readonly due: string;
}

/**
 * Layout (prefix `cm`):
 *   {cm:batch}:b:<batchId>      hash: o, h, e, s (see BatchKeys); until expiresAt (or ended_at) + 30 days
 *   {cm:batch}:due              zset: batch id → expiresAt, batches whose hold is unsettled
 *   {cm:batch:<batchId>}:c      set: claimed custom_ids; until the last claim + 30 days
 *
 * State and `due` share the `{cm:batch}` slot: settling a hold marks the state and leaves `due`
 * in one script. A batch's claim set is alone in its script, so it has a slot of its own: the
 * sets are what grows (up to 100,000 ids a batch), and on a Cluster they spread over the
 * shards. Batch ids are checked (letters, digits, `_`, `-`), so none can end a tag.
 */
export function batchKeySchema(prefix: string): BatchKeys {
  if (prefix.length === 0) throw new RangeError('batch key prefix must not be empty');
  const tagged = `{${prefix}:batch}`;
  return {
    state: (id) => `${tagged}:b:${id}`,
    claims: (id) => `{${prefix}:batch:${id}}:c`,
    due: `${tagged}:due`,
  };
}
