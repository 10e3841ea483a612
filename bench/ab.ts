/**
 * A/B for performance work: claude-meter from several checkouts (or configurations) against
 * the bare pass-through. On a shared 2-core VM the speed of the machine itself drifts by
 * 2× within a minute, so a whole-run median cannot resolve a 10% change. Two modes:
 *
 * - default: each round measures every target back to back at c=AB_C (closed loop) and
 *   takes the ratio to bare within the round. Throughput, as the goal in docs/performance.md states it.
 * - AB_MODE=together: every target under the same fixed rate (AB_RATE req/s each) at the
 *   same time, so all see the same machine. The figure is main-thread CPU per request,
 *   and the ratio (bare's over the target's) is the throughput ratio two saturated single
 *   event loops would reach. Far steadier; use it to compare changes.
 *
 *   npx tsx bench/ab.ts [name=dir[:ENV=v,ENV=v]] ...   (default: this checkout as "meter")
 *   AB_ROUNDS=12 AB_SECONDS=2 AB_C=64 AB_MODE=together AB_RATE=800
 *   AB_CONFIG=bench/budgets-two.yaml: that config file (BENCH_CONFIG) for every variant without its own,
 *   e.g. the two budgets every request fits, against an older checkout that lacks the file
 *   AB_PROFILE=dir: V8 CPU profiles of bare and the variants, in dir/<name>/
 *   AB_NODE_ARGS='--flag …': node flags for every proxy, bare included (runtime tuning, compared fairly)
 *   AB_PIN=1: the proxies on CPU 0, everything else (this process with autocannon, the
 *   upstream, Redis) on CPU 1 (taskset), so a proxy does not share its core with the load;
 *   check that bare's event loop stays near 100% busy, or CPU 1 is the limit, not the proxy.
 *
 * A dir is any checkout of this repo (e.g. `git worktree add /tmp/base HEAD` plus a
 * node_modules symlink); its bench/meter-child.ts runs with that checkout's src/.
 * ENV is passed to that child, e.g. `nolog=.:BENCH_LOG_LEVEL=warn` or `mem=.:REDIS_URL=`;
 * `src=.:BENCH_RUNTIME=tsx` runs that variant from source through tsx instead of bundled.
 * A relative BENCH_CONFIG is read from here (the directory ab.ts runs in), not from dir.
 * Every process runs the node that runs ab.ts: `PATH=<node 24 bin>:$PATH npx tsx bench/ab.ts …`.
 * Redis commands per request (back-to-back mode) come from INFO commandstats around each run.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { startRedis } from '../test/helpers/redis-server.ts';
import { spawnChild, killAllChildren, type Child } from './lib/children.ts';
import { runLoad } from './lib/load.ts';
import { HEADERS, KEYS, keyedRequests, MESSAGES_PATH, messagesBody } from './lib/request.ts';
import { perRequest, redisDelta, redisSnapshot } from './lib/redis-stats.ts';
import { median, sleep } from './lib/stats.ts';

process.once('SIGINT', () => process.exit(130));
const env = process.env;
const ROUNDS = Number(env['AB_ROUNDS'] ?? 12);
const SECONDS = Number(env['AB_SECONDS'] ?? 2);
const C = Number(env['AB_C'] ?? 64);
const TOGETHER = env['AB_MODE'] === 'together';
const RATE = Number(env['AB_RATE'] ?? 800);
const CONFIG = env['AB_CONFIG'] || null;
const log = (s: string) => process.stderr.write(`${s}\n`);
const PIN = env['AB_PIN'] === '1';
/** taskset: every thread of `pid` onto one CPU. */
const pin = (pid: number, cpu: number) => execFileSync('taskset', ['-apc', String(cpu), String(pid)], { stdio: 'ignore' });
if (PIN) pin(process.pid, 1); // children spawned from here on inherit CPU 1

interface Variant {
  name: string;
  dir: string;
  env: Record<string, string>;
}
interface Target {
  name: string;
  child: Child;
}
type Cpu = { user: number; system: number };
interface Row {
  rps: number[];
  cpu: number[];
  main: number[];
  elu: number[];
  redis: number[];
  /** Redis commands per request (script-run ones included) and script calls per request. */
  commands: number[];
  scripts: number[];
  ratio: number[];
}
type Rows = Record<string, Row>;

function parseVariants(args: string[]): Variant[] {
  // Split at the first '=' and ':' only: values may hold more of them (NODE_OPTIONS=--x=1).
  const cut = (s: string, sep: string): [string, string | undefined] => {
    const i = s.indexOf(sep);
    return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
  };
  return (args.length ? args : ['meter=.']).map((arg) => {
    const [name, rest] = cut(arg, '=');
    if (rest === undefined) throw new Error(`variant '${arg}': expected name=dir[:ENV=v,...]`);
    const [dir, envList] = cut(rest, ':');
    const e: Record<string, string> = {};
    if (CONFIG) e['BENCH_CONFIG'] = CONFIG;
    for (const kv of envList ? envList.split(',') : []) {
      const [k, v] = cut(kv, '=');
      e[k] = v ?? '';
    }
    // The child runs in dir: a relative path would name dir's file, which an older checkout may lack.
    if (e['BENCH_CONFIG']) e['BENCH_CONFIG'] = resolve(e['BENCH_CONFIG']);
    log(`  ${name}: ${dir}${Object.keys(e).length ? ` with ${JSON.stringify(e)}` : ''}`);
    return { name, dir, env: e };
  });
}

/** Default mode: closed-loop throughput, targets back to back in a rotating order. */
async function backToBack(targets: Target[], rows: Rows, admin: Redis): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, k) => targets[(round + k) % targets.length]!);
    const rps: Record<string, number> = {};
    for (const t of order) {
      const c0 = await t.child.call<Cpu>('cpu');
      const m0 = await t.child.call<number>('cpu-main');
      const e0 = await t.child.call<EventLoopUtilization>('elu');
      const r0 = await redisSnapshot(admin);
      const r = await runLoad(t.child.url, C, SECONDS);
      const c1 = await t.child.call<Cpu>('cpu');
      const m1 = await t.child.call<number>('cpu-main');
      const e1 = await t.child.call<EventLoopUtilization>('elu');
      const r1 = await redisSnapshot(admin);
      await sleep(100);
      rps[t.name] = r.rps;
      const row = rows[t.name]!;
      row.rps.push(r.rps);
      row.cpu.push((c1.user - c0.user + c1.system - c0.system) / r.ok);
      row.main.push((m1 - m0) / r.ok);
      row.elu.push((e1.active - e0.active) / (e1.active - e0.active + e1.idle - e0.idle));
      if (t.name !== 'bare') {
        const per = perRequest(redisDelta(r0, r1), r.ok);
        row.redis.push(per.cpuUs);
        row.commands.push(per.commands);
        row.scripts.push(per.scripts);
      }
      if (r.errors + r.non2xx) log(`  ${t.name}: ERRORS ${r.errors} non2xx ${r.non2xx}`);
    }
    for (const t of targets) rows[t.name]!.ratio.push(rps[t.name]! / rps['bare']!);
    log(`  r${round} ${targets.map((t) => `${t.name} ${rps[t.name]!.toFixed(0)}`).join('  ')}`);
  }
}

/** Together rounds left out because a target did not answer every request of the round. */
let burstRounds = 0;

/** AB_MODE=together: all targets at once under the same fixed rate; main-thread CPU per request. */
async function together(targets: Target[], rows: Rows): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const m0 = await Promise.all(targets.map((t) => t.child.call<number>('cpu-main')));
    const c0 = await Promise.all(targets.map((t) => t.child.call<Cpu>('cpu')));
    const s0 = await Promise.all(targets.map((t) => served(t)));
    const counted = await Promise.all(targets.map((t) => fixedRate(t.child.url, 16, RATE, SECONDS)));
    const m1 = await Promise.all(targets.map((t) => t.child.call<number>('cpu-main')));
    const c1 = await Promise.all(targets.map((t) => t.child.call<Cpu>('cpu')));
    const s1 = await Promise.all(targets.map((t) => served(t)));
    // What each server says it received; autocannon's count (non-2xx excluded) only for a child without the op.
    const done = targets.map((_, i) => (s0[i] !== null && s1[i] !== null ? s1[i]! - s0[i]! : counted[i]!));
    const per = targets.map((_, i) => (m1[i]! - m0[i]!) / done[i]!);
    // Every target is sent the same requests (fixedRate's amount); one that served far fewer
    // (errors, timeouts) would be compared on a different load, so such rounds are left out.
    const burst = done.findIndex((d) => Math.abs(d - RATE * SECONDS) > 0.1 * RATE * SECONDS);
    if (burst >= 0) {
      burstRounds++;
      log(`  r${round} left out: ${targets[burst]!.name} served ${done[burst]} of ${RATE * SECONDS} requests`);
      await sleep(100);
      continue;
    }
    targets.forEach((t, i) => {
      const row = rows[t.name]!;
      row.main.push(per[i]!);
      row.cpu.push((c1[i]!.user - c0[i]!.user + c1[i]!.system - c0[i]!.system) / done[i]!);
      row.rps.push(done[i]! / SECONDS);
      row.ratio.push(per[0]! / per[i]!);
    });
    log(`  r${round} main-thread µs/req: ${targets.map((t, i) => `${t.name} ${per[i]!.toFixed(0)}`).join('  ')}`);
    await sleep(100);
  }
}

/** Requests the target's server received so far, or null for a checkout whose bench child cannot say. */
async function served(t: Target): Promise<number | null> {
  try {
    return await t.child.call<number>('served');
  } catch {
    return null;
  }
}

function fixedRate(url: string, connections: number, overallRate: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: url + MESSAGES_PATH,
        method: 'POST',
        headers: HEADERS,
        body: messagesBody(false),
        requests: keyedRequests(),
        connections,
        overallRate,
        // amount, not duration: autocannon's rate is a quota per second, and a duration of 2 s could
        // take a third second's quota (1.5× the requests, cheaper each), favouring that target.
        amount: Math.round(overallRate * seconds),
      },
      (err, r) => (err ? reject(err) : resolve(r.requests.total - r.non2xx)),
    );
  });
}

function report(targets: Target[], rows: Rows): void {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const ratioHead = TOGETHER ? 'CPU ratio bare/target (per round)' : 'req/s ratio to bare (per round)';
  console.log(
    `\nNode ${process.version}, ${TOGETHER ? `together at ${RATE} req/s each` : `c=${C}`}, ${ROUNDS} rounds × ${SECONDS} s, ${KEYS} API keys` +
      (burstRounds ? `; ${burstRounds} of them left out (a target did not serve every request)` : '') +
      `\n\n| target | median req/s | ${ratioHead} | CPU µs/req | main thread µs/req | event loop busy | Redis CPU µs/req | Redis commands/req (script calls) |\n|---|---|---|---|---|---|---|---|`,
  );
  for (const t of targets) {
    const r = rows[t.name]!;
    const range = `${pct(median(r.ratio))} (${(Math.min(...r.ratio) * 100).toFixed(0)}–${(Math.max(...r.ratio) * 100).toFixed(0)})`;
    const elu = r.elu.length ? pct(median(r.elu)) : '';
    const redisCpu = r.redis.length ? median(r.redis).toFixed(1) : '';
    const cmds = r.commands.length ? `${median(r.commands).toFixed(2)} (${median(r.scripts).toFixed(2)})` : '';
    console.log(
      `| ${t.name} | ${median(r.rps).toFixed(0)} | ${range} | ${median(r.cpu).toFixed(0)} | ${median(r.main).toFixed(0)} | ${elu} | ${redisCpu} | ${cmds} |`,
    );
  }
}

const variants = parseVariants(process.argv.slice(2));
const redis = await startRedis();
const admin = new Redis(redis.url);
const children: Child[] = [];
try {
  const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
  const nodeArgs = (env['AB_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const profile = (name: string) => [
    ...nodeArgs,
    ...(env['AB_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${env['AB_PROFILE']}/${name}`] : []),
  ];
  const bare = await spawnChild('bare', 'bare-proxy.ts', { UPSTREAM_URL: upstream.url }, profile('bare'));
  children.push(upstream, bare);
  const targets: Target[] = [{ name: 'bare', child: bare }];
  for (const v of variants) {
    const child = await spawnChild(
      v.name,
      'meter-child.ts',
      { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url, ...v.env },
      profile(v.name),
      v.dir,
    );
    children.push(child);
    targets.push({ name: v.name, child });
  }
  if (PIN) for (const t of targets) pin(t.child.pid, 0);
  log(`node ${process.version} (${process.execPath}); redis ${redis.url}${PIN ? '; proxies pinned to CPU 0, the rest to CPU 1' : ''}`);
  log(
    `ab: ${ROUNDS} rounds × ${SECONDS} s, ${TOGETHER ? `together at ${RATE} req/s each` : `c=${C}`}; targets ${targets.map((t) => t.name).join(', ')}`,
  );
  for (const t of targets) await runLoad(t.child.url, C, 1); // warm-up: JIT, pools
  const rows: Rows = {};
  for (const t of targets) rows[t.name] = { rps: [], cpu: [], main: [], elu: [], redis: [], commands: [], scripts: [], ratio: [] };
  if (TOGETHER) await together(targets, rows);
  else await backToBack(targets, rows, admin);
  report(targets, rows);
} finally {
  await Promise.allSettled(children.map((c) => c.stop()));
  killAllChildren();
  admin.disconnect();
  await redis.close();
}
