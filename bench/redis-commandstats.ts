/**
 * Redis's own time per proxied request, by command (INFO commandstats), while claude-meter
 * with the Redis store serves 4 s of c=64 load: `npx tsx bench/redis-commandstats.ts [checkout dir]`.
 * `evalsha` includes the commands its script runs; those are listed too (docs/operations.md, Storage).
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from '../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren } from './lib/children.ts';
import { runLoad } from './lib/load.ts';
import { sleep } from './lib/stats.ts';

const redis = await startRedis();
const admin = new Redis(redis.url);
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  const meter = await spawnChild(
    'meter',
    'meter-child.ts',
    { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url },
    [],
    resolve(process.argv[2] ?? '.'),
  );
  await runLoad(meter.url, 64, 2); // warm-up
  await admin.config('RESETSTAT');
  const r = await runLoad(meter.url, 64, 4);
  await sleep(500); // the last batches
  console.log(`${r.ok} requests`);
  for (const m of (await admin.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) {
    console.log(`${m[1]!.padEnd(10)} calls ${m[2]!.padStart(7)}  ${(Number(m[3]) / r.ok).toFixed(1).padStart(6)} µs per request`);
  }
  await meter.stop();
  await upstream.stop();
} finally {
  killAllChildren();
  admin.disconnect();
  await redis.close();
}
