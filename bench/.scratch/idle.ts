import { readFileSync } from 'node:fs';
import { startRedis } from '../../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren } from '../lib/children.ts';
import { runLoad } from '../lib/load.ts';
const stat = () => (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
const redis = await startRedis();
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  const env = { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url };
  const bare = await spawnChild('bare', 'bare-proxy.ts', env);
  const meter = await spawnChild('meter', process.env['CHILD'] ?? 'meter-child.ts', env, [], process.env['DIR'] ?? undefined);
  for (const t of [bare, meter]) await runLoad(t.url, 64, 1);
  for (let r = 0; r < 3; r++) for (const [n, t] of [['bare', bare], ['meter', meter]] as const) {
    const a = stat();
    const res = await runLoad(t.url, 64, 4);
    const b = stat();
    const d = b.map((x, i) => x - (a[i] ?? 0));
    const tot = d.reduce((x, y) => x + y, 0);
    console.log(n, Math.round(res.ok / 4), 'req/s idle', ((100 * ((d[3] ?? 0) + (d[4] ?? 0))) / tot).toFixed(1) + '%');
  }
} finally { killAllChildren(); await redis.close(); }
process.exit(0);
