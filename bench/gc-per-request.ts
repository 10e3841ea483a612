/**
 * Young-generation garbage per proxied request and the scavenge time it costs, for the bare
 * pass-through and claude-meter (c=64, 5 s after a 2 s warm-up), from V8's --trace-gc:
 * `npx tsx bench/gc-per-request.ts`. Each child runs as the bench runs it (a bundle).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startRedis } from '../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren } from './lib/children.ts';
import { runLoad } from './lib/load.ts';

const redis = await startRedis();
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  const env = { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url };
  for (const [name, script] of [['bare', 'bare-proxy.ts'], ['meter', 'meter-child.ts']] as const) {
    await (await spawnChild(name, script, env)).stop(); // builds .bench/build/<name>.mjs
    const cp = spawn(process.execPath, ['--trace-gc', `.bench/build/${name}.mjs`], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let measuring = false;
    const scavenges: Array<{ freedMb: number; ms: number }> = [];
    const port = await new Promise<number>((resolve) =>
      createInterface({ input: cp.stdout! }).on('line', (l) => {
        const p = /^PORT (\d+)$/.exec(l);
        if (p) return resolve(Number(p[1]));
        // e.g. "Scavenge 35.5 (63.7) -> 22.8 (63.7) MB, 1.58 / 0.00 ms"
        const m = /Scavenge ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+) \//.exec(l);
        if (m && measuring) scavenges.push({ freedMb: Number(m[1]) - Number(m[2]), ms: Number(m[3]) });
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    await runLoad(url, 64, 2);
    measuring = true;
    const r = await runLoad(url, 64, 5);
    measuring = false;
    const kb = (scavenges.reduce((s, x) => s + x.freedMb, 0) * 1024) / r.ok;
    const us = (scavenges.reduce((s, x) => s + x.ms, 0) * 1000) / r.ok;
    console.log(`${name.padEnd(5)} ${r.ok} requests: ${scavenges.length} scavenges, ~${kb.toFixed(0)} KB young garbage and ${us.toFixed(1)} µs of scavenge per request`);
    cp.kill();
  }
} finally {
  killAllChildren();
  await redis.close();
}
process.exit(0);
