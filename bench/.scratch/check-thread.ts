import { startRedis } from '../../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren } from '../lib/children.ts';
import { runLoad } from '../lib/load.ts';
import { sleep } from '../lib/stats.ts';
const redis = await startRedis();
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  const meter = await spawnChild('meter', 'meter-child.ts', { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url });
  const r = await runLoad(meter.url, 64, 2);
  await sleep(500);
  console.log('ok', r.ok, 'stats', JSON.stringify(await meter.call('recorded')));
} finally { killAllChildren(); await redis.close(); }
process.exit(0);
