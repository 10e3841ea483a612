/**
 * The ledger's Lua scripts (admit, settle, discard, state) and the KEYS/ARGV they are called with.
 * Each is one EVALSHA over all refs of a request, so a request's check-and-reserve across its
 * budgets is atomic against every other proxy: two proxies can never both take the last dollar.
 *
 * Numbers in Lua: Lua 5.1 numbers are doubles. Amounts are safe integers (< 2^53); limits
 * may be larger (see keys.ts assertRefs). Each ref has its own amount, in the currency that ref
 * counts (the gate converts once, exactly, in JS): the script never converts or mixes currencies.
 *  - every mutation is HINCRBY/ZADD/HSET with the decimal string from ARGV, never a number
 *    Lua computed: Redis parses those as 64-bit integers itself, so stored totals stay exact
 *    even past 2^53;
 *  - no Lua number is ever handed to redis.call: Lua would format it with "%.14g" (1.7e+12
 *    style above 14 digits). The segment start is therefore computed in JS, not in Lua with
 *    string.format('%d', …);
 *  - reads (tonumber) and the limit check (spent + reserved + amount <= limit) are doubles:
 *    exact below 2^53; above, each value is off by at most half an ulp (2 pico at 20k units), and
 *    since rounding is monotonic a total that truly exceeds a limit below 2^53 never passes.
 * Returned integers go through Redis's integer reply, exact for integral doubles.
 */
import type { Cluster, Redis, Result } from 'ioredis';
import { HOUR_MS, hourStart, MINUTE_MS } from '../../core/time.ts';
import { HOURLY_HISTORY_TTL_MS, MINUTE_HISTORY_TTL_MS, RECALL_MS, instanceTtlSec, segmentStart, type BudgetKeys } from './keys.ts';
import type { Amount, InstanceRef, InstanceState, LeaseEntry } from '../types.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** ADMIT: [admitted 0/1, refusedBy, fits without reservations 0/1, then 4 state integers per ref]. */
    claudeMeterBudgetAdmit(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
    /** SETTLE: [found 0/1 (-1: already settled), 4 integers per ref before, then 4 per ref after]. */
    claudeMeterBudgetSettle(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
    /** DISCARD: per ref, dropped 0/1 then its 4 state integers. */
    claudeMeterBudgetDiscard(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
    /** LEASE: [duplicate 0/1, then per entry: granted pico, tokens, kept pico, tokens, recalled 0/1, 4 before, 4 after]. */
    claudeMeterBudgetLease(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
    /** STATE: 4 integers per ref. */
    claudeMeterBudgetState(numKeys: number, ...keysThenArgs: string[]): Result<number[], Context>;
  }
}

/*
 * KEYS, 6 per ref: [hash, res zset, resv hash, instance set, hourly history, minute history of
 * this hour]. Passed as KEYS (not built in Lua from a base) so Cluster clients route by them and
 * Redis can check they share a slot. Built by ledgerScriptArgs below.
 * ARGV: [1] now ms [2] reservation id [3] reservation expiry ms (admit) or the wake channel
 *       (settle, discard; state passes '0'), then 11 per ref:
 *       pico, tokens (this ref's amount: admit reserves it, settle adds it; '0' for discard and state),
 *       limitPico|-1, limitTokens|-1, enforce 0|1, rollingMs|0,
 *       segment start ms of `now` (rolling; 0 for calendar), key ttl s, instance (set member),
 *       hour start ms of `now`, minute start ms of `now` (history fields; computed here, not in Lua).
 * Settle passes one more key and argument after these: its idempotency marker (a sorted set of
 * settled ids) and when this id may leave it (ms). Admit passes one more argument: the wake
 * channel, on which it recalls leases.
 * A state is {spentPico, reservedPico, spentTokens, reservedTokens}.
 */
const HEAD_ARGS = 3;
const PER_REF_ARGS = 11;

const PRELUDE = `
local NOW, ID, EXPIRY = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(NOW)
-- From ARGV, not KEYS: settle passes one extra key (its idempotency marker) after the refs' keys.
local nrefs = math.floor((#ARGV - ${HEAD_ARGS}) / ${PER_REF_ARGS})

-- PICO and TOKENS are the decimal strings every write uses; pico and tokens their values for comparisons.
local function ref(i)
  local k, a = (i - 1) * 6, ${HEAD_ARGS} + (i - 1) * ${PER_REF_ARGS}
  return { h = KEYS[k + 1], res = KEYS[k + 2], resv = KEYS[k + 3], n = KEYS[k + 4], hh = KEYS[k + 5], hm = KEYS[k + 6],
    PICO = ARGV[a + 1], TOKENS = ARGV[a + 2], pico = tonumber(ARGV[a + 1]), tokens = tonumber(ARGV[a + 2]),
    lp = tonumber(ARGV[a + 3]), lt = tonumber(ARGV[a + 4]), enforce = ARGV[a + 5] == '1',
    rolling = tonumber(ARGV[a + 6]), segment = ARGV[a + 7], ttl = ARGV[a + 8], inst = ARGV[a + 9],
    hour = ARGV[a + 10], minute = ARGV[a + 11] }
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

-- Headroom returned: wake requests waiting on this instance on every proxy (redis-settle-feed.ts).
-- Sharded pub/sub stays on this slot's shard; Redis before 7 has only PUBLISH. ARGV[3] is the channel.
local function wake(r)
  local sent = redis.pcall('SPUBLISH', EXPIRY, r.h)
  if type(sent) == 'table' and sent.err then redis.call('PUBLISH', EXPIRY, r.h) end
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

-- Rolling segments count while start > now - rollingMs; older ones are deleted here.
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

-- Adds the ref's amount to its spend, and to the forecast history (per hour, 40 days) and
-- spike detail (per minute, 3 hours).
local function spend(r)
  if r.rolling == 0 then
    redis.call('HINCRBY', r.h, 's', r.PICO)
    redis.call('HINCRBY', r.h, 't', r.TOKENS)
  else
    redis.call('HINCRBY', r.h, 'b:' .. r.segment, r.PICO)
    redis.call('HINCRBY', r.h, 'bt:' .. r.segment, r.TOKENS)
  end
  if r.PICO ~= '0' then
    redis.call('HINCRBY', r.hh, r.hour, r.PICO)
    redis.call('PEXPIRE', r.hh, ${HOURLY_HISTORY_TTL_MS})
    redis.call('HINCRBY', r.hm, r.minute, r.PICO)
    redis.call('PEXPIRE', r.hm, ${MINUTE_HISTORY_TTL_MS})
  end
end
`;

const ADMIT_SCRIPT = `${PRELUDE}
local refs, states = {}, {}
for i = 1, nrefs do
  refs[i] = ref(i)
  purge(refs[i])
  states[i] = read(refs[i])
end
local refused = -1
for i = 1, nrefs do
  local r, s = refs[i], states[i]
  if r.enforce and not (fits(r.lp, s[1], s[2], r.pico) and fits(r.lt, s[3], s[4], r.tokens)) then
    refused = i - 1
    break
  end
end
if refused < 0 then
  for i = 1, nrefs do
    local r = refs[i]
    release(r, ID) -- a replayed admit replaces its reservation instead of adding a second one
    redis.call('HINCRBY', r.h, 'r', r.PICO)
    redis.call('HINCRBY', r.h, 'rt', r.TOKENS)
    redis.call('ZADD', r.res, EXPIRY, ID)
    redis.call('HSET', r.resv, ID, r.PICO .. ':' .. r.TOKENS)
    redis.call('SADD', r.n, r.inst)
    touch(r)
    states[i] = read(r)
  end
end
-- Whether the refusing ref would have taken the request without in-flight reservations:
-- if so the gate waits for them to settle instead of refusing.
local unreserved = 1
if refused >= 0 then
  local r, s = refs[refused + 1], states[refused + 1]
  if not (fits(r.lp, s[1], 0, r.pico) and fits(r.lt, s[3], 0, r.tokens)) then unreserved = 0
  -- It waits for headroom: lease holders return their unused part at their next sync, and
  -- hear it at once on the wake channel (the admit's last argument) as '!' and the instance.
  else
    redis.call('HSET', r.h, 'rc', string.format('%d', now + ${RECALL_MS}))
    local recall = '!' .. r.h
    local sent = redis.pcall('SPUBLISH', ARGV[#ARGV], recall)
    if type(sent) == 'table' and sent.err then redis.call('PUBLISH', ARGV[#ARGV], recall) end
  end
end
local out = { refused < 0 and 1 or 0, refused, unreserved }
for i = 1, nrefs do push(out, states[i]) end
return out
`;

/** How long a settled id is remembered: longer than a settle can wait in the SettleQueue during an outage. */
export const SETTLED_MARKER_TTL_MS = 6 * HOUR_MS;

const SETTLE_SCRIPT = `${PRELUDE}
local found, before, after = 0, {}, {}
-- A settle retried after an ambiguous failure (the reply was lost, the write was not)
-- must not add the spend twice: the first one to run puts the id in the marker set. The set
-- holds many ids (one of 64, by id), so settled requests add members, not keys.
local marker = KEYS[#KEYS]
redis.call('ZREMRANGEBYSCORE', marker, '-inf', NOW)
local claimed = redis.call('ZADD', marker, 'NX', ARGV[#ARGV], ID) == 1
redis.call('PEXPIRE', marker, ${SETTLED_MARKER_TTL_MS})
if not claimed then
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
  if release(r, ID) then
    found = 1
    wake(r)
  end
  spend(r)
  redis.call('SADD', r.n, r.inst)
  touch(r)
  after[i] = read(r)
end
local out = { found }
for i = 1, nrefs do push(out, before[i]) end
for i = 1, nrefs do push(out, after[i]) end
return out
`;

// An instance is dropped when nothing is left in it: no spend in the window, no reservation.
const DISCARD_SCRIPT = `${PRELUDE}
local out = {}
for i = 1, nrefs do
  local r = ref(i)
  purge(r)
  if release(r, ID) then wake(r) end
  local st = read(r)
  local empty = st[1] == 0 and st[2] == 0 and st[3] == 0 and st[4] == 0 and redis.call('ZCARD', r.res) == 0
  if empty then
    redis.call('DEL', r.h, r.res, r.resv)
    redis.call('SREM', r.n, r.inst)
  end
  out[#out + 1] = empty and 1 or 0
  push(out, st)
end
return out
`;

/*
 * LEASE: KEYS are the refs' 6 each, then the batch's idempotency marker. ARGV: the 3 head
 * arguments (now, the lease's reservation id, the wake channel), the refs' 11 each (the
 * amount is the spend to add), then 8 per ref (held pico, tokens; keep pico, tokens; want pico,
 * tokens; min pico, tokens), then share, the unused part's expiry, the held part's expiry (ms),
 * when the batch id may leave the marker, the batch id. The held part's reservation id is the
 * lease's with ':f'. Grants are computed in Lua (doubles, exact: every amount is a safe
 * integer) and written with string.format('%d'), never tostring (which would print 1e+14).
 */
const LEASE_SCRIPT = `${PRELUDE}
nrefs = (#KEYS - 1) / 6
local base = ${HEAD_ARGS} + nrefs * ${PER_REF_ARGS}
local tail = base + 8 * nrefs
local SHARE, FREE_EXPIRY, HELD_EXPIRY = tonumber(ARGV[tail + 1]), ARGV[tail + 2], ARGV[tail + 3]
local FORGET, BATCH = ARGV[tail + 4], ARGV[tail + 5]
local HID = ID .. ':f'
local marker = KEYS[#KEYS]
redis.call('ZREMRANGEBYSCORE', marker, '-inf', NOW)
local fresh = redis.call('ZADD', marker, 'NX', FORGET, BATCH) == 1
redis.call('PEXPIRE', marker, ${SETTLED_MARKER_TTL_MS})

local function grant(limit, spent, reserved, keep, want, min)
  if want <= 0 then return 0 end
  if limit < 0 then return want end
  local g = math.floor((limit - spent - reserved - keep) / SHARE)
  if g > want then g = want end
  if g <= 0 or g < min then return 0 end
  return g
end

local function amount(v)
  if not v then return 0, 0 end
  local p, t = string.match(v, '^(%d+):(%d+)$')
  return tonumber(p), tonumber(t)
end

local function hold(r, id, p, t, expiry)
  if p <= 0 and t <= 0 then return false end
  local P, T = string.format('%d', p), string.format('%d', t)
  redis.call('HINCRBY', r.h, 'r', P)
  redis.call('HINCRBY', r.h, 'rt', T)
  redis.call('ZADD', r.res, expiry, id)
  redis.call('HSET', r.resv, id, P .. ':' .. T)
  return true
end

local out = { fresh and 0 or 1 }
for i = 1, nrefs do
  local r = ref(i)
  local e = base + (i - 1) * 8
  local heldP, heldT = tonumber(ARGV[e + 1]), tonumber(ARGV[e + 2])
  local keepP, keepT = tonumber(ARGV[e + 3]), tonumber(ARGV[e + 4])
  local wantP, wantT = tonumber(ARGV[e + 5]), tonumber(ARGV[e + 6])
  purge(r)
  local before = read(r)
  local freeV = redis.call('HGET', r.resv, ID)
  local oldFP, oldFT = amount(freeV)
  local oldHP, oldHT = amount(redis.call('HGET', r.resv, HID))
  release(r, ID)
  release(r, HID)
  local wrote = false
  if fresh and (r.PICO ~= '0' or r.TOKENS ~= '0') then
    spend(r)
    wrote = true
  end
  -- An unused part that expired is not held again whatever the limit: it is asked for.
  if not freeV then
    wantP, wantT = wantP + keepP, wantT + keepT
    keepP, keepT = 0, 0
  end
  local s = read(r)
  local recalled = tonumber(redis.call('HGET', r.h, 'rc') or '0') > now
  local gP, gT = 0, 0
  if not recalled then
    gP = grant(r.enforce and r.lp or -1, s[1], s[2] + heldP, keepP, wantP, tonumber(ARGV[e + 7]))
    gT = grant(r.enforce and r.lt or -1, s[3], s[4] + heldT, keepT, wantT, tonumber(ARGV[e + 8]))
  end
  if hold(r, HID, heldP, heldT, HELD_EXPIRY) then wrote = true end
  if hold(r, ID, keepP + gP, keepT + gT, FREE_EXPIRY) then wrote = true end
  if wrote then
    redis.call('SADD', r.n, r.inst)
    touch(r)
  end
  if heldP + keepP + gP < oldHP + oldFP or heldT + keepT + gT < oldHT + oldFT then wake(r) end
  out[#out + 1] = gP
  out[#out + 1] = gT
  out[#out + 1] = keepP
  out[#out + 1] = keepT
  out[#out + 1] = recalled and 1 or 0
  push(out, before)
  push(out, read(r))
end
return out
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

/**
 * No numberOfKeys: it varies with the number of refs and is passed first on each call. On a
 * Cluster client, auto-pipelining then groups these calls by that count rather than by a key;
 * what keeps them routable is that every budget key of a prefix is in one hash slot (keys.ts).
 */
export function defineLedgerScripts(client: Redis | Cluster): void {
  client.defineCommand('claudeMeterBudgetAdmit', { lua: ADMIT_SCRIPT });
  client.defineCommand('claudeMeterBudgetSettle', { lua: SETTLE_SCRIPT });
  client.defineCommand('claudeMeterBudgetDiscard', { lua: DISCARD_SCRIPT });
  client.defineCommand('claudeMeterBudgetLease', { lua: LEASE_SCRIPT });
  client.defineCommand('claudeMeterBudgetState', { lua: STATE_SCRIPT });
}

/**
 * KEYS and ARGV of a ledger script for `refs` at `now`, after the 3 head arguments (see above).
 * `amounts[i]` is ref i's amount in its currency; without amounts (discard, state) every ref gets 0.
 */
export function ledgerScriptArgs(
  keys: BudgetKeys,
  refs: readonly InstanceRef[],
  now: number,
  head: [now: string, id: string, expiryOrChannel: string],
  amounts: readonly Amount[] | null,
): [string[], string[]] {
  const keyList: string[] = [];
  const args: string[] = [...head];
  const limit = (v: number | null): string => (v === null ? '-1' : String(v));
  const hour = hourStart(now);
  const minute = now - (now % MINUTE_MS);
  for (const [i, ref] of refs.entries()) {
    const k = keys.instance(ref);
    keyList.push(k.hash, k.res, k.resv, k.set, k.hourly, k.minutes(hour));
    const w = ref.window;
    const amount = amounts?.[i];
    args.push(
      amount === undefined ? '0' : String(amount.pico),
      amount === undefined ? '0' : String(amount.tokens),
      limit(ref.limitPico),
      limit(ref.limitTokens),
      ref.enforce ? '1' : '0',
      String(w.rollingMs ?? 0),
      String(w.rollingMs === null ? 0 : segmentStart(now, w.segmentMs)),
      String(instanceTtlSec(w, now)),
      ref.instance,
      String(hour),
      String(minute),
    );
  }
  return [keyList, args];
}

/** `n` states of 4 integers each, from `offset` in a script reply. */
export function toStates(reply: readonly number[], offset: number, n: number): InstanceState[] {
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

/** KEYS and ARGV of the lease script (see LEASE_SCRIPT above). */
export function leaseScriptArgs(
  keys: BudgetKeys,
  entries: readonly LeaseEntry[],
  now: number,
  head: [now: string, leaseId: string, channel: string],
  tail: { share: number; freeExpiry: number; heldExpiry: number; forgetAt: number; batch: string },
): [string[], string[]] {
  const [keyList, args] = ledgerScriptArgs(
    keys,
    entries.map((e) => e.ref),
    now,
    head,
    entries.map((e) => e.spent),
  );
  for (const e of entries) for (const a of [e.held, e.keep, e.want, e.min]) args.push(String(a.pico), String(a.tokens));
  keyList.push(keys.settled(tail.batch));
  args.push(String(tail.share), String(tail.freeExpiry), String(tail.heldExpiry), String(tail.forgetAt), tail.batch);
  return [keyList, args];
}
