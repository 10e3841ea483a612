import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startRedis } from '../../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren } from '../lib/children.ts';
import { runLoad } from '../lib/load.ts';
const redis = await startRedis();
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  await spawnChild(process.env['NAME'] ?? 'meter', process.env['SCRIPT'] ?? 'meter-child.ts', { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url }).then((c) => c.stop()); // builds .bench/build/meter.mjs
  const cp = spawn(process.execPath, ['--trace-gc', `.bench/build/${process.env['NAME'] ?? 'meter'}.mjs`], { env: { ...process.env, UPSTREAM_URL: upstream.url, REDIS_URL: redis.url, ...JSON.parse(process.env['EXTRA_ENV'] ?? '{}') }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let measuring = false;
  const gcs: string[] = [];
  const port = await new Promise<number>((res) => createInterface({ input: cp.stdout! }).on('line', (l) => { const m = /^PORT (\d+)$/.exec(l); if (m) res(Number(m[1])); else if (measuring && /Scavenge|Mark-Compact|Mark-sweep/.test(l)) gcs.push(l); }));
  const url = `http://127.0.0.1:${port}`;
  await runLoad(url, 64, 2);
  measuring = true;
  const r = await runLoad(url, 64, 5);
  measuring = false;
  const sc = gcs.filter((l) => l.includes('Scavenge'));
  const mc = gcs.filter((l) => !l.includes('Scavenge'));
  const ms = (ls: string[]) => ls.reduce((s, l) => s + Number(/, ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1] ?? 0), 0);
  console.log(`requests ${r.ok}; scavenges ${sc.length} (${ms(sc).toFixed(0)} ms, ${(ms(sc) * 1000 / r.ok).toFixed(2)} µs/req); mark-compact ${mc.length} (${ms(mc).toFixed(0)} ms, ${(ms(mc) * 1000 / r.ok).toFixed(2)} µs/req)`);
  console.log(sc.slice(-2).join('\n'));
  console.log(mc.slice(-2).join('\n'));
  cp.kill();
} finally { killAllChildren(); await redis.close(); }
process.exit(0);
