/**
 * Where one proxy's CPU goes per request, sampled by Linux `perf` (kernel, V8 runtime, GC and
 * JIT code alike), at c=64 with the proxy pinned to CPU 0 and everything else to CPU 1.
 * V8's own profiler (BENCH_PROFILE/AB_PROFILE) slows claude-meter far more than the bare
 * proxy; perf's sampling does not distort the comparison that way.
 *
 *   npx tsx bench/perf-profile.ts [meter|bare] [checkout dir] [frame regex ...]
 *
 * Prints req/s, µs per request by binary (node = V8 runtime and builtins, JIT = compiled JS,
 * kernel), and µs per request spent under each frame regex given (inclusive; defaults to
 * the stages of the pipeline). Needs `perf` (Debian: linux-perf) and taskset.
 */
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { startRedis } from '../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren } from './lib/children.ts';
import { runLoad } from './lib/load.ts';

const HZ = 2000;
const SECONDS = 6;
const [which = 'meter', dir = '.', ...patterns] = process.argv.slice(2);
const frames = patterns.length
  ? patterns
  : [
      'JS:.handleProxied ',
      'JS:.onHeaders ',
      'JS:.settle ',
      'JS:.info ',
      '#pump|#sent',
      'JS:.writeBatch ',
      'Builtin_JsonParse',
      'Builtin_JsonStringify',
      'Scaveng',
      'compiler::',
      'do_writev',
      'ksys_read',
      'ksys_write',
    ];

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('perf-profile: needs Linux perf (apt install linux-perf)');
  process.exit(2);
}
execFileSync('taskset', ['-apc', '1', String(process.pid)]);
const out = `/tmp/claude-meter-perf-${which}-${process.pid}.data`;
const redis = await startRedis();
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  const child =
    which === 'bare'
      ? await spawnChild('bare', 'bare-proxy.ts', { UPSTREAM_URL: upstream.url }, ['--perf-basic-prof'])
      : await spawnChild(
          'meter',
          'meter-child.ts',
          { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url },
          ['--perf-basic-prof'],
          resolve(dir),
        );
  execFileSync('taskset', ['-apc', '0', String(child.pid)]);
  await runLoad(child.url, 64, 4); // warm-up: JIT, pools
  const perf = spawn(
    'perf',
    ['record', '-q', '-e', 'cpu-clock', '-F', String(HZ), '-g', '-p', String(child.pid), '-o', out, '--', 'sleep', String(SECONDS)],
    { stdio: 'inherit' },
  );
  const load = await runLoad(child.url, 64, SECONDS);
  await new Promise((r) => perf.once('exit', r));
  await child.stop();
  await upstream.stop();

  const script = execFileSync('perf', ['script', '-i', out, '-F', 'ip,sym,dso'], {
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const stacks = script
    .split('\n\n')
    .map((s) =>
      s
        .trim()
        .split('\n')
        .map((l) => l.trim()),
    )
    .filter((s) => s[0]);
  const perSample = 1e6 / HZ / load.ok; // µs per request that one sample stands for
  console.log(
    `${which}: ${load.rps.toFixed(0)} req/s at c=64, ${load.ok} requests, ${stacks.length} samples: ${(stacks.length * perSample).toFixed(1)} µs of CPU per request`,
  );
  const byDso = new Map<string, number>();
  for (const st of stacks) {
    const leaf = st[0] ?? '';
    const dso = /\(([^)]*)\)\s*$/.exec(leaf)?.[1] ?? '?';
    const kind = dso.includes('kernel')
      ? 'kernel'
      : dso.includes('perf-') || dso.includes('JIT')
        ? 'JIT (compiled JS)'
        : dso.endsWith('/node') || dso === 'node'
          ? 'node (V8 runtime, builtins, GC)'
          : dso.includes('libc')
            ? 'libc'
            : 'other';
    byDso.set(kind, (byDso.get(kind) ?? 0) + 1);
  }
  for (const [k, n] of [...byDso].sort((a, b) => b[1] - a[1])) console.log(`  ${(n * perSample).toFixed(1).padStart(6)} µs/req  ${k}`);
  console.log('inclusive, per frame pattern:');
  for (const p of frames) {
    const re = new RegExp(p);
    const n = stacks.filter((st) => st.some((f) => re.test(f))).length;
    console.log(`  ${(n * perSample).toFixed(1).padStart(6)} µs/req  ${p}`);
  }
} finally {
  killAllChildren();
  await redis.close();
  rmSync(out, { force: true });
}
