import { Redis } from 'ioredis';
import { startRedis } from '/work/main/test/helpers/redis-server.ts';
const srv = await startRedis();
const r = new Redis(srv.url, { enableAutoPipelining: true });
const script = 'return 1';
const sha = await r.script('LOAD', script) as string;
const ev = JSON.stringify(['0b0d7a8e-1f1e-4a5b-9d8e-5f4c3b2a1a0f', 1764305400123, 'POST', '/v1/messages', 'claude-sonnet-4-5-20250929', 'a1b2c3d4e5f60718', '', 200, 0, 412, 187, 0, 0, 0, 128, 0, '', null, 0, 5061000000, 0, 0, 3.21, null, 2.9, null, 'msg_bench_0000000000000001']);
const N = 30;
const many: string[] = [];
for (let i = 0; i < N; i++) many.push('0b0d7a8e-1f1e-4a5b-9d8e-5f4c3b2a1a0' + i, '1', ev);
for (let i = 0; i < 40; i++) many.push('1', `12|input|claude-sonnet-4-5-20250929`, String(412 * N));
const one = [many.join('\n')];
async function run(name: string, args: string[]) {
  const t0 = process.cpuUsage();
  const n = 2000;
  for (let i = 0; i < n; i++) await r.evalsha(sha, 0, ...args);
  const d = process.cpuUsage(t0);
  console.log(name, ((d.user + d.system) / n).toFixed(1), 'µs per call', args.length, 'args', args.join('').length, 'chars');
}
for (let k = 0; k < 3; k++) { await run('many', many); await run('one', one); }
r.disconnect(); await srv.close();
