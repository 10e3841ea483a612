/**
 * BudgetStore over Redis (single node or Cluster), shared by every proxy instance.
 * Key layout and why all of it sits in one hash slot: see keys.ts.
 *
 * admit, settle and state are one EVALSHA each over all refs of a request, so a request's
 * check-and-reserve across its budgets is atomic against every other proxy: two proxies
 * can never both take the last dollar of a budget.
 *
 * Numbers in Lua: Lua 5.1 numbers are doubles. Amounts are safe integers (< 2^53); limits
 * may be larger (see keys.ts assertRefs).
 *  - every mutation is HINCRBY/ZADD/HSET with the decimal string from ARGV, never a number
 *    Lua computed: Redis parses those as 64-bit integers itself, so stored totals stay exact
 *    even past 2^53;
 *  - no Lua number is ever handed to redis.call: Lua would format it with "%.14g" (1.7e+12
 *    style above 14 digits). The bucket start is therefore computed in JS, not in Lua with
 *    string.format('%d', …);
 *  - reads (tonumber) and the limit check (spent + reserved + amount <= limit) are doubles:
 *    exact below 2^53; above, each value is off by at most half an ulp (2 pico at $20k), and
 *    since rounding is monotonic a total that truly exceeds a limit below 2^53 never passes.
 * Returned integers go through Redis's integer reply, exact for integral doubles.
 */
import type { Cluster, Redis, Result } from 'ioredis';
import { DEFAULT_PREFIX } from '../redis/prefix.ts';
import { quitClient } from '../redis/client.ts';
import {
  alertTtlSec,
  assertAmount,
  assertId,
  assertNow,
  assertRefs,
  assertTtl,
  budgetKeySchema,
  bucketStart,
  instanceTtlSec,
  type BudgetKeys,
  HOURLY_HISTORY_TTL_MS,
  MINUTE_HISTORY_TTL_MS,
} from './keys.ts';
import type { AdmitResult, Amount, BudgetStore, InstanceRef, InstanceState, PaceResult, SettleResult } from './types.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** ADMIT: [admitted 0/1, deniedBy, then 4 state integers per ref]. */
    claudeMeterBudgetAdmit(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
    /** SETTLE: [found 0/1, 4 integers per ref before, then 4 per ref after]. */
    claudeMeterBudgetSettle(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
    /** PACE: [ok 0/1, waitMs string (-1: never at this rate)]. */
    claudeMeterBudgetPace(key: string, ...args: string[]): Result<[number, string], Context>;
    /** CLAIM: 1 when the lock was free (on the caller's clock) and is now held. */
    claudeMeterBudgetClaim(key: string, now: string, ttlMs: string): Result<number, Context>;
    /** STATE: 4 integers per ref. */
    claudeMeterBudgetState(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
  }
}

export type BudgetRedisClient = Redis | Cluster;

/*
 * KEYS, 6 per ref: [hash, res zset, resv hash, instance set, hourly history, minute history of this hour]. Passed as KEYS (not built in
 * Lua from a base) so Cluster clients route by them and Redis can check they share a slot.
 * ARGV: [1] now ms [2] reservation id [3] pico [4] tokens [5] reservation expiry ms
 *       (state passes '', '0', '0', '0'), then 9 per ref:
 *       limitPico|-1, limitTokens|-1, enforce 0|1, rollingMs|0,
 *       bucket start ms of `now` (rolling; 0 for calendar), key ttl s, instance (set member),
 *       hour start ms of `now`, minute start ms of `now` (history fields; computed here, not in Lua).
 * A state is {spentPico, reservedPico, spentTokens, reservedTokens}.
 */
const PRELUDE = `
local NOW, ID, PICO, TOKENS, EXPIRY = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = tonumber(NOW)
-- From ARGV, not KEYS: settle passes one extra key (its idempotency marker) after the refs' keys.
local nrefs = math.floor((#ARGV - 5) / 9)

local function ref(i)
  local k, a = (i - 1) * 6, 5 + (i - 1) * 9
  return { h = KEYS[k + 1], res = KEYS[k + 2], resv = KEYS[k + 3], n = KEYS[k + 4], hh = KEYS[k + 5], hm = KEYS[k + 6],
    lp = tonumber(ARGV[a + 1]), lt = tonumber(ARGV[a + 2]), enforce = ARGV[a + 3] == '1',
    rolling = tonumber(ARGV[a + 4]), bucket = ARGV[a + 5], ttl = ARGV[a + 6], inst = ARGV[a + 7],
    hour = ARGV[a + 8], minute = ARGV[a + 9] }
end

-- HINCRBY rejects "-0", so a zero amount is skipped rather than negated.
local function decr(key, field, by)
  if by ~= '0' then redis.call('HINCRBY', key, field, '-' .. by) end
end

local function release(r, id)
  redis.call('ZREM', r.res, id)
  local v = redis.call('HGET', r.resv, id)
  if not v then return false end
  local p, t = string.match(v, '^(%d+):(%d+)$')
  decr(r.h, 'r', p)
  decr(r.h, 'rt', t)
  redis.call('HDEL', r.resv, id)
  return true
end

local function touch(r)
  for _, key in ipairs({ r.h, r.res, r.resv, r.n }) do redis.call('EXPIRE', key, r.ttl) end
end

-- Drops reservations whose expiry <= now. Re-applies the TTL afterwards: should the hash
-- have expired on its own, HINCRBY would have recreated it without one.
local function purge(r)
  local ids = redis.call('ZRANGEBYSCORE', r.res, '-inf', NOW)
  for _, id in ipairs(ids) do release(r, id) end
  if #ids > 0 then touch(r) end
end

-- Rolling buckets count while start > now - rollingMs; older ones are deleted here.
local function read(r)
  local st = { 0, 0, 0, 0 }
  local h = redis.call('HGETALL', r.h)
  local cutoff = now - r.rolling
  for i = 1, #h, 2 do
    local f, v = h[i], tonumber(h[i + 1])
    if f == 'r' then st[2] = v
    elseif f == 'rt' then st[4] = v
    elseif r.rolling == 0 then
      if f == 's' then st[1] = v elseif f == 't' then st[3] = v end
    else
      local kind, start = string.match(f, '^(bt?):(%d+)$')
      if kind == nil then
      elseif tonumber(start) <= cutoff then redis.call('HDEL', r.h, f)
      elseif kind == 'b' then st[1] = st[1] + v
      else st[3] = st[3] + v end
    end
  end
  return st
end

local function fits(limit, spent, reserved, add)
  return limit < 0 or spent + reserved + add <= limit
end

local function push(out, st)
  for j = 1, 4 do out[#out + 1] = st[j] end
end
`;

const ADMIT_SCRIPT = `${PRELUDE}
local pico, tokens = tonumber(PICO), tonumber(TOKENS)
local refs, states = {}, {}
for i = 1, nrefs do
  refs[i] = ref(i)
  purge(refs[i])
  states[i] = read(refs[i])
end
local denied = -1
for i = 1, nrefs do
  local r, s = refs[i], states[i]
  if r.enforce and not (fits(r.lp, s[1], s[2], pico) and fits(r.lt, s[3], s[4], tokens)) then
    denied = i - 1
    break
  end
end
if denied < 0 then
  for i = 1, nrefs do
    local r = refs[i]
    release(r, ID) -- a replayed admit replaces its reservation instead of adding a second one
    redis.call('HINCRBY', r.h, 'r', PICO)
    redis.call('HINCRBY', r.h, 'rt', TOKENS)
    redis.call('ZADD', r.res, EXPIRY, ID)
    redis.call('HSET', r.resv, ID, PICO .. ':' .. TOKENS)
    redis.call('SADD', r.n, r.inst)
    touch(r)
    states[i] = read(r)
  end
end
local out = { denied < 0 and 1 or 0, denied }
for i = 1, nrefs do push(out, states[i]) end
return out
`;

/** How long a settled id is remembered: longer than a settle can wait in the SettleQueue during an outage. */
const SETTLED_MARKER_TTL_MS = 6 * 3600 * 1000;

const SETTLE_SCRIPT = `${PRELUDE}
local found, before, after = 0, {}, {}
-- A settle retried after an ambiguous failure (the reply was lost, the write was not)
-- must not add the spend twice: the first one to run claims the marker.
if not redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', ${SETTLED_MARKER_TTL_MS}) then
  local out = { -1 }
  for i = 1, nrefs do local r = ref(i); purge(r); before[i] = read(r) end
  for i = 1, nrefs do push(out, before[i]) end
  for i = 1, nrefs do push(out, before[i]) end
  return out
end
for i = 1, nrefs do
  local r = ref(i)
  purge(r)
  before[i] = read(r)
  if release(r, ID) then found = 1 end
  if r.rolling == 0 then
    redis.call('HINCRBY', r.h, 's', PICO)
    redis.call('HINCRBY', r.h, 't', TOKENS)
  else
    redis.call('HINCRBY', r.h, 'b:' .. r.bucket, PICO)
    redis.call('HINCRBY', r.h, 'bt:' .. r.bucket, TOKENS)
  end
  redis.call('SADD', r.n, r.inst)
  touch(r)
  -- Forecast history (per hour, 40 days) and spike detail (per minute, 3 hours).
  if PICO ~= '0' then
    redis.call('HINCRBY', r.hh, r.hour, PICO)
    redis.call('PEXPIRE', r.hh, ${HOURLY_HISTORY_TTL_MS})
    redis.call('HINCRBY', r.hm, r.minute, PICO)
    redis.call('PEXPIRE', r.hm, ${MINUTE_HISTORY_TTL_MS})
  end
  after[i] = read(r)
end
local out = { found }
for i = 1, nrefs do push(out, before[i]) end
for i = 1, nrefs do push(out, after[i]) end
return out
`;

/**
 * Token bucket for pacing, the Lua mirror of paceStep() in pace.ts. KEYS[1] bucket hash.
 * ARGV: now, cost, ratePerMs, capacity, reserve, ttlMs. Reply: { ok 0/1, waitMs as string }.
 */
const PACE_SCRIPT = `
local now, cost, rate, cap, reserve = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local l, ts = unpack(redis.call('HMGET', KEYS[1], 'l', 'ts'))
local level = l and tonumber(l) or cap
local last = ts and tonumber(ts) or now
level = math.min(cap, level + math.max(0, now - last) * rate)
local ok, wait = 0, -1
if level - cost >= reserve then
  level = level - cost
  ok, wait = 1, 0
elseif rate > 0 then
  wait = math.ceil((cost + reserve - level) / rate)
end
redis.call('HSET', KEYS[1], 'l', string.format('%.17g', level), 'ts', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return { ok, string.format('%.0f', wait) }
`;

/**
 * A lock that expires on the caller's clock (`now` is an argument everywhere in this store, so
 * tests and simulations can drive time); Redis' own TTL only collects the key later.
 * KEYS[1] lock; ARGV: now, ttlMs. Reply 1 when claimed.
 */
const CLAIM_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])), 'PX', tonumber(ARGV[2]) + 86400000)
return 1
`;

const STATE_SCRIPT = `${PRELUDE}
local out = {}
for i = 1, nrefs do
  local r = ref(i)
  purge(r)
  push(out, read(r))
end
return out
`;

export interface RedisBudgetStoreOptions {
  /** Key prefix; budget keys live under the hash tag `{<prefix>:budget}` (default `cm`). */
  prefix?: string;
  /** close() quits the client (default true, as RedisStore: the composition root hands it over). */
  ownsClient?: boolean;
}

export class RedisBudgetStore implements BudgetStore {
  readonly #client: BudgetRedisClient;
  readonly #keys: BudgetKeys;
  readonly #ownsClient: boolean;
  #closed = false;

  constructor(client: BudgetRedisClient, opts: RedisBudgetStoreOptions = {}) {
    this.#client = client;
    this.#keys = budgetKeySchema(opts.prefix ?? DEFAULT_PREFIX);
    this.#ownsClient = opts.ownsClient ?? true;
    // No numberOfKeys: it varies with the number of refs and is passed first on each call.
    client.defineCommand('claudeMeterBudgetAdmit', { lua: ADMIT_SCRIPT });
    client.defineCommand('claudeMeterBudgetSettle', { lua: SETTLE_SCRIPT });
    client.defineCommand('claudeMeterBudgetState', { lua: STATE_SCRIPT });
    client.defineCommand('claudeMeterBudgetPace', { numberOfKeys: 1, lua: PACE_SCRIPT });
    client.defineCommand('claudeMeterBudgetClaim', { numberOfKeys: 1, lua: CLAIM_SCRIPT });
  }

  async admit(refs: readonly InstanceRef[], id: string, amount: Amount, now: number, reservationTtlMs: number): Promise<AdmitResult> {
    this.#check(refs, now);
    assertId(id);
    assertAmount(amount, 'amount');
    assertTtl(reservationTtlMs);
    if (refs.length === 0) return { admitted: true, deniedBy: -1, states: [] };
    const head = [String(now), id, String(amount.pico), String(amount.tokens), String(now + reservationTtlMs)];
    const [keys, args] = this.#encode(refs, now, head);
    const reply = await this.#client.claudeMeterBudgetAdmit(keys.length, ...keys, ...args);
    return { admitted: reply[0] === 1, deniedBy: reply[1] ?? -1, states: toStates(reply, 2, refs.length) };
  }

  async settle(refs: readonly InstanceRef[], id: string, actual: Amount, now: number): Promise<SettleResult> {
    this.#check(refs, now);
    assertId(id);
    assertAmount(actual, 'actual');
    if (refs.length === 0) return { before: [], after: [], reservationFound: false, duplicate: false };
    const head = [String(now), id, String(actual.pico), String(actual.tokens), '0'];
    const [keys, args] = this.#encode(refs, now, head);
    keys.push(this.#keys.settled(id));
    const reply = await this.#client.claudeMeterBudgetSettle(keys.length, ...keys, ...args);
    return {
      before: toStates(reply, 1, refs.length),
      after: toStates(reply, 1 + 4 * refs.length, refs.length),
      reservationFound: reply[0] === 1,
      duplicate: reply[0] === -1,
    };
  }

  async state(refs: readonly InstanceRef[], now: number): Promise<InstanceState[]> {
    this.#check(refs, now);
    if (refs.length === 0) return [];
    const [keys, args] = this.#encode(refs, now, [String(now), '', '0', '0', '0']);
    return toStates(await this.#client.claudeMeterBudgetState(keys.length, ...keys, ...args), 0, refs.length);
  }

  async pace(bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number, now: number): Promise<PaceResult> {
    this.#assertOpen();
    // Idle buckets refill to full anyway, so a key that outlives a day of silence is pointless.
    const [ok, wait] = await this.#client.claudeMeterBudgetPace(
      this.#keys.paceBucket(bucket),
      String(now), String(cost), String(ratePerMs), String(capacity), String(reserve), String(86_400_000),
    );
    const w = Number(wait);
    return { ok: ok === 1, waitMs: ok === 1 ? 0 : w < 0 ? Number.POSITIVE_INFINITY : w };
  }

  async claimRefit(key: string, ttlMs: number, now: number): Promise<boolean> {
    this.#assertOpen();
    return (await this.#client.claudeMeterBudgetClaim(this.#keys.refitLock(key), String(now), String(ttlMs))) === 1;
  }

  async putForecast(key: string, json: string, ttlMs: number): Promise<void> {
    this.#assertOpen();
    await this.#client.set(this.#keys.forecast(key), json, 'PX', ttlMs);
  }

  async getForecast(key: string): Promise<string | null> {
    this.#assertOpen();
    return this.#client.get(this.#keys.forecast(key));
  }

  async recordDemand(refs: readonly InstanceRef[], pico: number, now: number): Promise<void> {
    this.#assertOpen();
    if (pico <= 0 || refs.length === 0) return;
    const hour = now - (now % 3_600_000);
    const tx = this.#client.multi();
    for (const ref of refs) {
      const k = this.#keys.instance(ref);
      tx.hincrby(k.hourly, String(hour), pico).pexpire(k.hourly, HOURLY_HISTORY_TTL_MS);
      tx.hincrby(k.minutes(hour), String(now - (now % 60_000)), pico).pexpire(k.minutes(hour), MINUTE_HISTORY_TTL_MS);
    }
    await tx.exec();
  }

  async hourlySpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    this.#assertOpen();
    const probe = this.#keys.instance({ budget, instance, window: HISTORY_WINDOW, limitPico: null, limitTokens: null, enforce: false });
    return fieldsInRange(await this.#client.hgetall(probe.hourly), from, to);
  }

  async minuteSpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    this.#assertOpen();
    const probe = this.#keys.instance({ budget, instance, window: HISTORY_WINDOW, limitPico: null, limitTokens: null, enforce: false });
    const hours: number[] = [];
    for (let h = from - (from % 3_600_000); h < to; h += 3_600_000) hours.push(h);
    const replies = await Promise.all(hours.map((h) => this.#client.hgetall(probe.minutes(h))));
    const out = new Map<number, number>();
    for (const r of replies) for (const [k, v] of fieldsInRange(r, from, to)) out.set(k, v);
    return out;
  }

  async instances(budget: string, windowId: string): Promise<string[]> {
    this.#assertOpen();
    // Members are the raw scope values (set members may hold any bytes): nothing to decode.
    return (await this.#client.smembers(this.#keys.instanceSet(budget, windowId))).sort();
  }

  async claimAlert(ref: InstanceRef, threshold: number): Promise<boolean> {
    this.#assertOpen();
    assertRefs([ref], this.#keys);
    if (!Number.isFinite(threshold)) throw new RangeError(`alert threshold must be finite, got ${threshold}`);
    const key = this.#keys.alert(ref, threshold);
    return (await this.#client.set(key, '1', 'EX', alertTtlSec(ref.window), 'NX')) === 'OK';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    await quitClient(this.#client);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisBudgetStore is closed');
  }

  #check(refs: readonly InstanceRef[], now: number): void {
    this.#assertOpen();
    assertNow(now);
    assertRefs(refs, this.#keys);
  }

  #encode(refs: readonly InstanceRef[], now: number, head: string[]): [string[], string[]] {
    const keys: string[] = [];
    const args = [...head];
    const limit = (v: number | null): string => (v === null ? '-1' : String(v));
    for (const ref of refs) {
      const k = this.#keys.instance(ref);
      const hour = now - (now % 3_600_000);
      keys.push(k.hash, k.res, k.resv, k.set, k.hourly, k.minutes(hour));
      const w = ref.window;
      args.push(
        limit(ref.limitPico),
        limit(ref.limitTokens),
        ref.enforce ? '1' : '0',
        String(w.rollingMs ?? 0),
        String(w.rollingMs === null ? 0 : bucketStart(now, w.bucketMs)),
        String(instanceTtlSec(w, now)),
        ref.instance,
        String(hour),
        String(now - (now % 60_000)),
      );
    }
    return [keys, args];
  }
}

function toStates(reply: readonly number[], offset: number, n: number): InstanceState[] {
  const at = (i: number): number => {
    const v = reply[i];
    if (typeof v !== 'number') throw new Error(`budget script returned a short reply (${reply.length} items)`);
    return v;
  };
  return Array.from({ length: n }, (_, r) => {
    const o = offset + 4 * r;
    return { spentPico: at(o), reservedPico: at(o + 1), spentTokens: at(o + 2), reservedTokens: at(o + 3) };
  });
}

/** History keys do not depend on the window; a placeholder satisfies the key builder. */
const HISTORY_WINDOW = { id: '-', start: 0, end: 0, bucketMs: 1, rollingMs: null };

function fieldsInRange(h: Record<string, string>, from: number, to: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [k, v] of Object.entries(h)) {
    const t = Number(k);
    if (t >= from && t < to) out.set(t, Number(v));
  }
  return out;
}
