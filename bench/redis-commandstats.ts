/**
 * Redis's own work per proxied request, by command (INFO commandstats), while claude-meter
 * with the Redis store serves 4 s of c=64 load: `npx tsx bench/redis-commandstats.ts [checkout dir]`;
 * `BENCH_CONFIG=bench/budgets-two.yaml` for the two budgets every request fits, BENCH_KEYS for the keys.
 * `evalsha` includes the commands its script runs; those are listed too (docs/operations.md, Storage).
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from '../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren } from './lib/children.ts';
import { runLoad } from './lib/load.ts';
import { perRequest, redisDelta, redisSnapshot } from './lib/redis-stats.ts';
import { sleep } from './lib/stats.ts';

const config = process.env['BENCH_CONFIG'];
const redis = await startRedis();
const admin = new Redis(redis.url);
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  const meter = await spawnChild(
    'meter',
    'meter-child.ts',
    // Absolute: the child runs in the checkout under test, which may not have the file.
    { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url, ...(config ? { BENCH_CONFIG: resolve(config) } : {}) },
    [],
    resolve(process.argv[2] ?? '.'),
  );
  await runLoad(meter.url, 64, 2); // warm-up
  await admin.config('RESETSTAT');
  const before = await redisSnapshot(admin);
  const r = await runLoad(meter.url, 64, 4);
  await sleep(500); // the last batches
  const after = await redisSnapshot(admin);
  const d = redisDelta(before, after);
  const per = perRequest(d, r.ok);
  console.log(
    `${r.ok} requests${config ? ` (${config})` : ''}: ${per.commands.toFixed(2)} Redis commands per request, ` +
      `${per.scripts.toFixed(2)} of them script calls; Redis CPU ${per.cpuUs.toFixed(1)} µs per request`,
  );
  for (const m of (await admin.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) {
    if (m[1] === 'info' || m[1] === 'config') continue;
    console.log(
      `${m[1]!.padEnd(16)} calls ${m[2]!.padStart(7)}  ${(Number(m[2]) / r.ok).toFixed(2).padStart(6)} per request  ${(Number(m[3]) / r.ok).toFixed(1).padStart(6)} µs per request`,
    );
  }
  await meter.stop();
  await upstream.stop();
} finally {
  killAllChildren();
  admin.disconnect();
  await redis.close();
}
