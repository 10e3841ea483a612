/**
 * What Redis did for a stretch of load, from the bench's own redis-server: INFO commandstats
 * (calls per command) and INFO cpu, read before and after, so the delta belongs to the one
 * target that ran in between. Redis counts a command a script runs under that command as
 * well as the script call (`evalsha`), so "all commands" includes the scripts' own commands.
 */
import type { Redis } from 'ioredis';

export interface RedisSnapshot {
  calls: Record<string, number>;
  cpuUs: number;
}

export interface RedisDelta {
  /** Calls per command in the stretch, the admin client's own INFO calls left out. */
  calls: Record<string, number>;
  cpuUs: number;
}

/** Script calls: what a client sends as one round trip to run a Lua script. */
export const SCRIPT_COMMANDS = ['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro'];

export async function redisSnapshot(admin: Redis): Promise<RedisSnapshot> {
  const stats = await admin.info('commandstats');
  const cpu = await admin.info('cpu');
  const calls: Record<string, number> = {};
  for (const m of stats.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)) calls[m[1]!] = Number(m[2]);
  const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
  return { calls, cpuUs: (v('used_cpu_sys') + v('used_cpu_user')) * 1e6 };
}

export function redisDelta(a: RedisSnapshot, b: RedisSnapshot): RedisDelta {
  const calls: Record<string, number> = {};
  for (const [cmd, n] of Object.entries(b.calls)) {
    const d = n - (a.calls[cmd] ?? 0);
    if (d > 0 && cmd !== 'info') calls[cmd] = d;
  }
  return { calls, cpuUs: b.cpuUs - a.cpuUs };
}

/** Per request: every command Redis executed, the script calls among them, Redis CPU. */
export function perRequest(d: RedisDelta, requests: number): { commands: number; scripts: number; cpuUs: number } {
  const total = Object.values(d.calls).reduce((n, x) => n + x, 0);
  const scripts = SCRIPT_COMMANDS.reduce((n, c) => n + (d.calls[c] ?? 0), 0);
  return { commands: total / requests, scripts: scripts / requests, cpuUs: d.cpuUs / requests };
}
