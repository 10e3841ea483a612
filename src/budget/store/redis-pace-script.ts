import type { Cluster, Redis, Result } from 'ioredis';
import { DAY_MS } from '../../core/time.ts';
import type { PaceResult } from '../types.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** PACE: [ok 0/1, waitMs string (-1: never at this rate)]. */
    claudeMeterBudgetPace(key: string, ...args: string[]): Result<[number, string], Context>;
  }
}

/**
 * Token bucket for pacing, the Lua mirror of paceStep() in budget/pacing/bucket.ts. KEYS[1] bucket hash.
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

export function definePaceScript(client: Redis | Cluster): void {
  client.defineCommand('claudeMeterBudgetPace', { numberOfKeys: 1, lua: PACE_SCRIPT });
}

/** Idle buckets refill to full anyway, so a key that outlives a day of silence is pointless. */
const BUCKET_TTL_MS = DAY_MS;

export async function runPace(
  client: Redis | Cluster,
  key: string,
  cost: number,
  ratePerMs: number,
  capacity: number,
  reserve: number,
  now: number,
): Promise<PaceResult> {
  const [ok, wait] = await client.claudeMeterBudgetPace(
    key,
    String(now),
    String(cost),
    String(ratePerMs),
    String(capacity),
    String(reserve),
    String(BUCKET_TTL_MS),
  );
  const w = Number(wait);
  return { ok: ok === 1, waitMs: ok === 1 ? 0 : w < 0 ? Number.POSITIVE_INFINITY : w };
}
