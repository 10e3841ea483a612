import type { Cluster, Redis, Result } from 'ioredis';
import { DAY_MS } from '../../core/time.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** CLAIM: 1 when the lock was free (on the caller's clock) and is now held. */
    claudeMeterBudgetClaim(key: string, now: string, ttlMs: string): Result<number, Context>;
  }
}

/**
 * A lock that expires on the caller's clock (`now` is an argument everywhere in this store, so
 * tests and simulations can drive time); Redis' own TTL only collects the key later.
 * KEYS[1] lock; ARGV: now, ttlMs. Reply 1 when claimed.
 */
const CLAIM_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])), 'PX', tonumber(ARGV[2]) + ${DAY_MS})
return 1
`;

export function defineClaimScript(client: Redis | Cluster): void {
  client.defineCommand('claudeMeterBudgetClaim', { numberOfKeys: 1, lua: CLAIM_SCRIPT });
}

export async function runClaim(client: Redis | Cluster, key: string, ttlMs: number, now: number): Promise<boolean> {
  return (await client.claudeMeterBudgetClaim(key, String(now), String(ttlMs))) === 1;
}
