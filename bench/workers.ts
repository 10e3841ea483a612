/**
 * `npm run bench:workers` (or BENCH_WORKERS=1 npm run bench): the built command
 * (`node bin/claude-meter.js start --workers N`, run `npm run build` first) with 1 and with 2
 * workers, on Redis, in front of bench/mock-upstream.ts, closed-loop load at c=64 from this
 * process (autocannon). Rounds alternate between the two so drift hits both alike. CPU per
 * request is summed over every process of the proxy (the primary and its workers), read from
 * /proc/<pid>/stat before and after each run. Markdown on stdout.
 *
 *   BENCH_WORKERS_SECONDS (5), BENCH_WORKERS_ROUNDS (3), BENCH_WORKERS_C (64)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startRedis } from '../test/helpers/redis-server.ts';
import { killAllChildren, spawnChild } from './lib/children.ts';
import { runLoad, type LoadResult } from './lib/load.ts';
import { median } from './lib/stats.ts';

const BIN = fileURLToPath(new URL('../bin/claude-meter.js', import.meta.url));
const env = process.env;
const SECONDS = Number(env['BENCH_WORKERS_SECONDS'] ?? 5);
const ROUNDS = Number(env['BENCH_WORKERS_ROUNDS'] ?? 3);
const C = Number(env['BENCH_WORKERS_C'] ?? 64);
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux this runs on). */
const HZ = 100;
const log = (s: string) => process.stderr.write(`${s}\n`);

/** utime + stime of one process, in ms; 0 once it has gone. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
  } catch {
    return 0;
  }
}

/** The pids whose parent is `pid` (the workers of a primary). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface Proxy {
  workers: number;
  url: string;
  child: ChildProcess;
  /** CPU ms of the primary and of all its workers. */
  cpu(): { primary: number; total: number };
}

async function startProxy(workers: number, upstream: string, redis: string): Promise<Proxy> {
  const child = spawn(process.execPath, [BIN, 'start', '--workers', String(workers)], {
    env: {
      ...env,
      CLAUDE_METER_CONFIG: '',
      CLAUDE_METER_WORKERS: '',
      PORT: '0',
      UPSTREAM_URL: upstream,
      REDIS_URL: redis,
      CLAUDE_METER_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Every request writes a log line: read them all (as a log collector would), keep none.
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`--workers ${workers} exited during start-up (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /"listen":"([^"]+)"/.exec(line);
      if (m) resolve(m[1]!);
    });
  });
  const pid = child.pid!;
  return {
    workers,
    url,
    child,
    cpu() {
      const primary = cpuMsOf(pid);
      return { primary, total: primary + childrenOf(pid).reduce((a, p) => a + cpuMsOf(p), 0) };
    },
  };
}

interface Run extends LoadResult {
  workers: number;
  cpuUsPerReq: number;
  primaryUsPerReq: number;
}

async function measure(p: Proxy, seconds: number): Promise<Run> {
  const a = p.cpu();
  const r = await runLoad(p.url, C, seconds);
  const b = p.cpu();
  const n = Math.max(1, r.ok);
  return { ...r, workers: p.workers, cpuUsPerReq: ((b.total - a.total) * 1000) / n, primaryUsPerReq: ((b.primary - a.primary) * 1000) / n };
}

export async function workersBench(): Promise<string> {
  const redis = await startRedis();
  const proxies: Proxy[] = [];
  try {
    const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
    for (const n of [1, 2]) proxies.push(await startProxy(n, upstream.url, redis.url));
    log(`workers bench: ${ROUNDS} rounds × ${SECONDS} s at c=${C}, 1 vs 2 workers, ${os.availableParallelism()} cores`);
    for (const p of proxies) await runLoad(p.url, C, 2); // warm-up: JIT, pools
    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? proxies : [...proxies].reverse();
      for (const p of order) {
        const r = await measure(p, SECONDS);
        log(`  round ${round + 1}, ${p.workers} worker(s): ${Math.round(r.rps)} req/s, ${Math.round(r.cpuUsPerReq)} µs CPU/req`);
        runs.push(r);
      }
    }
    const row = (n: number): string => {
      const rs = runs.filter((r) => r.workers === n);
      const errors = rs.reduce((a, r) => a + r.errors + r.non2xx, 0);
      return `| ${n} | ${Math.round(median(rs.map((r) => r.rps)))} | ${Math.round(median(rs.map((r) => r.cpuUsPerReq)))} | ${n === 1 ? 'no primary' : Math.round(median(rs.map((r) => r.primaryUsPerReq)))} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${errors} |`;
    };
    const report = [
      `### Workers: 1 vs 2 (c=${C}, ${ROUNDS} × ${SECONDS} s, medians; ${os.availableParallelism()} cores, Node ${process.version})`,
      '',
      '| workers | req/s | CPU µs/req, all proxy processes | of which the primary | p50 ms | p99 ms | errors |',
      '|--:|--:|--:|--:|--:|--:|--:|',
      row(1),
      row(2),
    ].join('\n');
    await upstream.stop();
    return report;
  } finally {
    for (const p of proxies) {
      p.child.kill('SIGTERM');
      if (p.child.exitCode === null) await once(p.child, 'exit');
    }
    killAllChildren();
    await redis.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  workersBench().then(
    (report) => process.stdout.write(`${report}\n`),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
