/**
 * BatchStore over Redis (single node or Cluster), shared by every proxy. Key layout and slots:
 * batch-store.ts `batchKeySchema`. Each write is one script, so two proxies downloading the
 * same results at once claim each custom_id once between them, and a hold is settled once.
 *
 * Lifetimes are relative (PEXPIRE), computed from the caller's `now`, as in the budget store:
 * Redis' own clock never decides what a proxy's clock means, and a test can use any `now`. A
 * key's lifetime is only ever extended, never shortened (`extend` in the scripts).
 */
import type { Cluster, Redis, Result } from 'ioredis';
import { HOUR_MS } from '../core/time.ts';
import { quitClient } from '../redis/client.ts';
import { DEFAULT_PREFIX } from '../redis/prefix.ts';
import {
  ALL_CLAIMED,
  assertBatchId,
  assertNow,
  type BatchKeys,
  batchKeySchema,
  type BatchOrigin,
  type BatchState,
  type BatchStore,
  claimsUntil,
  type ClaimResult,
  decodeOrigin,
  type DueHold,
  encodeOrigin,
  endedUntil,
  isCustomId,
  MAX_BATCH_REQUESTS,
  originUntil,
} from './batch-store.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    claudeMeterBatchRemember(
      state: string,
      due: string,
      batchId: string,
      origin: string,
      hasHold: string,
      expiresAt: string,
      ttl: string,
    ): Result<number, Context>;
    claudeMeterBatchEnded(state: string, endedAt: string, ttl: string): Result<number, Context>;
    claudeMeterBatchClaim(claims: string, ...args: string[]): Result<Array<string | number>, Context>;
    claudeMeterBatchClaimedAll(claims: string, allClaimed: string, ttl: string): Result<number, Context>;
    claudeMeterBatchSettle(state: string, due: string, batchId: string): Result<number, Context>;
    claudeMeterBatchCounted(state: string, pico: string): Result<number, Context>;
  }
}

/** Sets a key's lifetime to `ttl` ms unless it already lives longer (PTTL is -1 without one). */
const EXTEND = `
local function extend(key, ttl)
  local left = redis.call('PTTL', key)
  if left ~= -2 and left < ttl then redis.call('PEXPIRE', key, ttl) end
end
`;

/**
 * REMEMBER. KEYS: state, due. ARGV: batch id, origin JSON, 1 when it holds a budget hold,
 * expiresAt, ttl ms. The first origin sticks; a hold joins `due` (scored by expiresAt) until settled.
 */
const REMEMBER = `${EXTEND}
if redis.call('HSETNX', KEYS[1], 'o', ARGV[2]) == 1 and ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'h', '1')
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  extend(KEYS[2], tonumber(ARGV[5]))
end
extend(KEYS[1], tonumber(ARGV[5]))
return 1
`;

/** ENDED. KEYS: state. ARGV: endedAt, ttl ms. The first ended_at sticks. */
const ENDED = `${EXTEND}
redis.call('HSETNX', KEYS[1], 'e', ARGV[1])
extend(KEYS[1], tonumber(ARGV[2]))
return 1
`;

/**
 * CLAIM. KEYS: the batch's claim set. ARGV: ttl ms, most ids a batch may hold, ALL_CLAIMED,
 * then the ids (checked in JS, distinct). Reply: the number ignored (past the bound), then the
 * ids added now. SADD is the atomic test-and-set: 1 means no proxy had claimed the id.
 */
const CLAIM = `${EXTEND}
local set = KEYS[1]
if redis.call('SISMEMBER', set, ARGV[3]) == 1 then return {0} end
local room = tonumber(ARGV[2]) - redis.call('SCARD', set)
local out = {0}
local ignored = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  if room > 0 then
    if redis.call('SADD', set, id) == 1 then
      room = room - 1
      out[#out + 1] = id
    end
  elseif redis.call('SISMEMBER', set, id) == 0 then
    ignored = ignored + 1
  end
end
out[1] = ignored
extend(set, tonumber(ARGV[1]))
return out
`;

/** CLAIMED_ALL. KEYS: the claim set. ARGV: ALL_CLAIMED, ttl ms. The ids give way to the one marker. */
const CLAIMED_ALL = `
local left = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.max(left, tonumber(ARGV[2])))
return 1
`;

/** SETTLE. KEYS: state, due. ARGV: batch id. 1 for the first caller on a batch remembered with a hold. */
const SETTLE = `
if redis.call('HGET', KEYS[1], 'h') ~= '1' then return 0 end
if redis.call('HSETNX', KEYS[1], 's', '1') == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** COUNTED. KEYS: state. ARGV: pico. Adds to a known batch only (a HINCRBY alone would make a key with no lifetime). */
const COUNTED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'c', ARGV[1])
return 1
`;

/** Ids per CLAIM call: a script blocks Redis while it runs, so one call stays well under a millisecond. */
const CLAIM_CHUNK = 1_000;
/** The most `dueHolds` returns at once. */
const MAX_DUE = 1_000;
/** A lifetime already over (a batch remembered late) still gets this long, rather than a PEXPIRE that deletes at once. */
const MIN_TTL_MS = HOUR_MS;

export interface RedisBatchStoreOptions {
  /** Key prefix; batch keys live under `{<prefix>:batch}` and `{<prefix>:batch:<id>}` (default `cm`). */
  prefix?: string;
  /** close() quits the client (default true: the composition root hands it over). */
  ownsClient?: boolean;
}

export class RedisBatchStore implements BatchStore {
  readonly kind = 'redis' as const;
  readonly #client: Redis | Cluster;
  readonly #keys: BatchKeys;
  readonly #ownsClient: boolean;
  #closed = false;

  constructor(client: Redis | Cluster, opts: RedisBatchStoreOptions = {}) {
    this.#client = client;
    this.#keys = batchKeySchema(opts.prefix ?? DEFAULT_PREFIX);
    this.#ownsClient = opts.ownsClient ?? true;
    client.defineCommand('claudeMeterBatchRemember', { numberOfKeys: 2, lua: REMEMBER });
    client.defineCommand('claudeMeterBatchEnded', { numberOfKeys: 1, lua: ENDED });
    client.defineCommand('claudeMeterBatchClaim', { numberOfKeys: 1, lua: CLAIM });
    client.defineCommand('claudeMeterBatchClaimedAll', { numberOfKeys: 1, lua: CLAIMED_ALL });
    client.defineCommand('claudeMeterBatchSettle', { numberOfKeys: 2, lua: SETTLE });
    client.defineCommand('claudeMeterBatchCounted', { numberOfKeys: 1, lua: COUNTED });
  }

  async remember(batchId: string, origin: BatchOrigin, now: number): Promise<void> {
    this.#check(batchId, now);
    const json = encodeOrigin(origin);
    const hasHold = origin.hold !== null && origin.hold !== undefined;
    await this.#client.claudeMeterBatchRemember(
      this.#keys.state(batchId),
      this.#keys.due,
      batchId,
      json,
      hasHold ? '1' : '0',
      String(origin.expiresAt),
      ttl(originUntil(origin), now),
    );
  }

  async noteEnded(batchId: string, endedAt: number, now: number): Promise<void> {
    this.#check(batchId, now);
    assertNow(endedAt);
    await this.#client.claudeMeterBatchEnded(this.#keys.state(batchId), String(endedAt), ttl(endedUntil(endedAt), now));
  }

  async info(batchId: string, now: number): Promise<BatchState | null> {
    this.#check(batchId, now);
    const [o, e, s, c] = await this.#client.hmget(this.#keys.state(batchId), 'o', 'e', 's', 'c');
    if (o == null && e == null) return null;
    return {
      origin: o == null ? null : decodeOrigin(o),
      endedAt: e == null ? null : Number(e),
      holdSettled: s === '1',
      counted: c == null ? 0 : Number(c),
    };
  }

  async addCounted(batchId: string, pico: number, now: number): Promise<void> {
    this.#check(batchId, now);
    if (!Number.isSafeInteger(pico) || pico <= 0) return;
    await this.#client.claudeMeterBatchCounted(this.#keys.state(batchId), String(pico));
  }

  async claim(batchId: string, customIds: readonly string[], now: number): Promise<ClaimResult> {
    this.#check(batchId, now);
    const valid = new Set<string>();
    let ignored = 0;
    for (const id of customIds) {
      if (isCustomId(id)) valid.add(id);
      else ignored++;
    }
    const ids = [...valid];
    const claimed: string[] = [];
    const key = this.#keys.claims(batchId);
    const life = ttl(claimsUntil(now), now);
    // In order, one chunk after another: the bound (SCARD) must see the chunks before.
    for (let i = 0; i < ids.length; i += CLAIM_CHUNK) {
      const reply = await this.#client.claudeMeterBatchClaim(
        key,
        life,
        String(MAX_BATCH_REQUESTS),
        ALL_CLAIMED,
        ...ids.slice(i, i + CLAIM_CHUNK),
      );
      ignored += Number(reply[0]);
      for (let j = 1; j < reply.length; j++) claimed.push(String(reply[j]));
    }
    return { claimed, ignored };
  }

  async claimedAll(batchId: string, now: number): Promise<void> {
    this.#check(batchId, now);
    await this.#client.claudeMeterBatchClaimedAll(this.#keys.claims(batchId), ALL_CLAIMED, ttl(claimsUntil(now), now));
  }

  async settleHold(batchId: string, now: number): Promise<boolean> {
    this.#check(batchId, now);
    return (await this.#client.claudeMeterBatchSettle(this.#keys.state(batchId), this.#keys.due, batchId)) === 1;
  }

  /**
   * One ZRANGEBYSCORE, then one pipeline of HMGETs (same slot). A member whose state is gone
   * (expired) or settled is removed from `due` on the way, and not returned.
   */
  async dueHolds(now: number, limit: number): Promise<DueHold[]> {
    this.#assertOpen();
    assertNow(now);
    const n = Math.min(MAX_DUE, Math.max(0, Math.floor(limit)));
    if (n === 0) return [];
    const ids = await this.#client.zrangebyscore(this.#keys.due, '-inf', now, 'LIMIT', 0, n);
    if (ids.length === 0) return [];
    const pipeline = this.#client.pipeline();
    for (const id of ids) pipeline.hmget(this.#keys.state(id), 'o', 's');
    const results = (await pipeline.exec()) ?? [];
    const due: DueHold[] = [];
    const stale: string[] = [];
    ids.forEach((batchId, i) => {
      const [err, fields] = results[i] ?? [null, null];
      if (err) throw err;
      const [o, s] = (fields ?? [null, null]) as [string | null, string | null];
      const origin = o === null ? null : decodeOrigin(o);
      if (origin === null || s === '1') stale.push(batchId);
      else due.push({ batchId, origin });
    });
    if (stale.length > 0) await this.#client.zrem(this.#keys.due, ...stale);
    return due;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) await quitClient(this.#client);
  }

  #check(batchId: string, now: number): void {
    this.#assertOpen();
    assertBatchId(batchId);
    assertNow(now);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisBatchStore is closed');
  }
}

/** A lifetime ending at `until`, from `now`, as PEXPIRE's argument. */
function ttl(until: number, now: number): string {
  return String(Math.max(MIN_TTL_MS, until - now));
}
