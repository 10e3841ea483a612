import type { Cluster, Redis, Result } from 'ioredis';
import { hourStart, MINUTE_MS } from '../../core/time.ts';
import { HOURLY_HISTORY_TTL_MS, MINUTE_HISTORY_TTL_MS, type BudgetKeys } from './keys.ts';
import type { InstanceRef } from '../types.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** DEMAND: how many refs had state or history (and got the demand). */
    claudeMeterBudgetDemand(numKeys: number, ...keysThenArgs: string[]): Result<number, Context>;
  }
}

/**
 * Refused demand into the spend history, for the instances that have state or history. A
 * scope that never had either (a made-up key, tag or model refused before the upstream saw it)
 * gets no history keys, so refusals cannot grow Redis one key per name a client invents.
 * KEYS, 3 per ref: instance hash, hourly history, minute history of this hour.
 * ARGV: [1] hour start ms [2] minute start ms (fields computed in JS, see redis-ledger-scripts.ts),
 * then one pico per ref, in that ref's currency, as the decimal string HINCRBY parses (exact).
 */
const DEMAND_SCRIPT = `
local n = 0
for i = 1, #KEYS, 3 do
  local pico = ARGV[2 + (i + 2) / 3]
  if pico ~= '0' and redis.call('EXISTS', KEYS[i], KEYS[i + 1]) > 0 then
    redis.call('HINCRBY', KEYS[i + 1], ARGV[1], pico)
    redis.call('PEXPIRE', KEYS[i + 1], ${HOURLY_HISTORY_TTL_MS})
    redis.call('HINCRBY', KEYS[i + 2], ARGV[2], pico)
    redis.call('PEXPIRE', KEYS[i + 2], ${MINUTE_HISTORY_TTL_MS})
    n = n + 1
  end
end
return n
`;

export function defineDemandScript(client: Redis | Cluster): void {
  client.defineCommand('claudeMeterBudgetDemand', { lua: DEMAND_SCRIPT });
}

export async function runDemand(
  client: Redis | Cluster,
  keys: BudgetKeys,
  refs: readonly InstanceRef[],
  pico: readonly number[],
  now: number,
): Promise<void> {
  const hour = hourStart(now);
  const list = refs.flatMap((ref) => {
    const k = keys.instance(ref);
    return [k.hash, k.hourly, k.minutes(hour)];
  });
  await client.claudeMeterBudgetDemand(list.length, ...list, String(hour), String(now - (now % MINUTE_MS)), ...pico.map(String));
}
