/**
 * `npm run bench`: claude-meter against a bare undici pass-through and the upstream itself,
 * the same with two budgets every request fits (`meter+budgets`, bench/budgets-two.yaml),
 * plus the same pipeline on the http-proxy-3 engine for the engine decision.
 * Every server runs in its own child process; autocannon (the load generator) runs here.
 * Progress goes to stderr; the Markdown report to stdout and .bench/results.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.ts';
import { BENCH } from './lib/config.ts';
import { spawnChild, killAllChildren, type Child } from './lib/children.ts';
import type { MemSample } from './lib/child-runtime.ts';
import type { BenchLog } from './lib/logger.ts';
import { runLoad, type LoadResult } from './lib/load.ts';
import { perRequest, redisDelta, redisSnapshot } from './lib/redis-stats.ts';
import { median, percentile, sleep, sortedCopy } from './lib/stats.ts';
import { bigStream, measureTtft } from './lib/streaming.ts';
import { renderReport, TARGETS, type RedisPerRequest, type Results, type Target } from './lib/report.ts';
import type { RequestRecord } from '../src/store/types.ts';

process.once('SIGINT', () => process.exit(130)); // 'exit' hooks kill the children and redis-server

const log = (s: string) => process.stderr.write(`${s}\n`);
type Cpu = { user: number; system: number };
const cpuMs = (a: Cpu, b: Cpu) => (b.user - a.user + b.system - a.system) / 1000;

function machine(): Results['machine'] {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let redis = 'unknown';
  try {
    redis = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? redis;
  } catch {}
  return { cpu, cores: os.cpus().length, node: process.version, redis, os: `${os.type()} ${os.release()}` };
}

/** Aggregate CPU jiffies from /proc/stat: steal shows a noisy (shared or overcommitted) VM. */
function cpuTimes(): { steal: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return { steal: f[7] ?? 0, total: f.reduce((a, b) => a + b, 0) };
}

async function main(): Promise<void> {
  const cpu0 = cpuTimes();
  const load0 = os.loadavg()[0] ?? 0;
  const children: Child[] = [];
  let redis: RedisServer | null = null;
  let admin: Redis | null = null;
  try {
    log(`bench: ${BENCH.quick ? 'QUICK smoke run, ' : ''}${BENCH.rounds} rounds × ${BENCH.seconds} s, c=${BENCH.concurrencies.join('/')}`);
    redis = await startRedis();
    admin = new Redis(redis.url);
    const redisAdmin = admin;
    const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
    children.push(upstream);
    const env = { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url };
    const prof = BENCH.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${BENCH.profileDir}`] : [];
    const bare = await spawnChild('bare', 'bare-proxy.ts', env, prof);
    const meter = await spawnChild('meter', 'meter-child.ts', env, prof);
    children.push(bare, meter);
    const variant = BENCH.variant ? await spawnChild('variant', 'meter-child.ts', { ...env, BENCH_ENGINE: 'httpproxy3' }, prof) : null;
    if (variant) children.push(variant);
    // Its own key prefix: the recording check counts each meter's records apart.
    const budgets = BENCH.budgets
      ? await spawnChild('budgets', 'meter-child.ts', { ...env, BENCH_CONFIG: resolve(BENCH.budgetsConfig), BENCH_KEY_PREFIX: 'cmb' }, prof)
      : null;
    if (budgets) children.push(budgets);
    const meterLog = await meter.call<BenchLog>('log');
    log(
      `node ${process.version} (${process.execPath}); pids: upstream ${upstream.pid}, bare ${bare.pid}, meter ${meter.pid}${variant ? `, variant ${variant.pid}` : ''}${budgets ? `, meter+budgets ${budgets.pid} (${BENCH.budgetsConfig}, ${BENCH.keys} keys)` : ''}; meter log level ${meterLog.level} → ${meterLog.dest}`,
    );
    const procs: Partial<Record<Target, Child>> = {
      bare,
      meter,
      ...(variant ? { variant } : {}),
      ...(budgets ? { 'meter+budgets': budgets } : {}),
    };
    const urls: Partial<Record<Target, string>> = {
      direct: upstream.url,
      bare: bare.url,
      meter: meter.url,
      ...(variant ? { variant: variant.url } : {}),
      ...(budgets ? { 'meter+budgets': budgets.url } : {}),
    };
    const targetsAt = (c: number): Target[] =>
      TARGETS.filter(
        (t) =>
          urls[t] &&
          (t !== 'variant' || BENCH.variantConcurrencies.includes(c)) &&
          (t !== 'meter+budgets' || BENCH.budgetsConcurrencies.includes(c)),
      );
    // Redis is only read around the targets that use it; bare and direct never touch it.
    const usesRedis = (t: Target) => t === 'meter' || t === 'meter+budgets';

    // Requests each meter answered, to check afterwards that its store holds every one.
    const answered: Partial<Record<Target, { ok: number; inflightAtStops: number }>> = {};
    const measure = async (
      t: Target,
      c: number,
      seconds: number,
    ): Promise<LoadResult & { cpuUsPerReq: number | null; mainUsPerReq: number | null; redis: RedisPerRequest | null }> => {
      const proc = procs[t];
      const before = proc ? await proc.call<Cpu>('cpu') : null;
      const mainBefore = proc ? await proc.call<number>('cpu-main') : null;
      const redisBefore = usesRedis(t) ? await redisSnapshot(redisAdmin) : null;
      const r = await runLoad(urls[t]!, c, seconds);
      const after = proc ? await proc.call<Cpu>('cpu') : null; // after the child's writes in flight
      const mainAfter = proc ? await proc.call<number>('cpu-main') : null;
      const redisAfter = redisBefore ? await redisSnapshot(redisAdmin) : null;
      if (usesRedis(t)) {
        const a = (answered[t] ??= { ok: 0, inflightAtStops: 0 });
        a.ok += r.ok;
        a.inflightAtStops += c;
      }
      await sleep(200); // let sockets and timers settle before the next target
      let redisPer: RedisPerRequest | null = null;
      if (redisBefore && redisAfter && r.ok > 0) {
        const d = redisDelta(redisBefore, redisAfter);
        redisPer = {
          ...perRequest(d, r.ok),
          byCommand: Object.fromEntries(Object.entries(d.calls).map(([k, n]) => [k, n / r.ok])),
        };
      }
      return {
        ...r,
        cpuUsPerReq: before && after ? (cpuMs(before, after) * 1000) / r.ok : null,
        mainUsPerReq: mainBefore !== null && mainAfter !== null ? (mainAfter - mainBefore) / r.ok : null,
        redis: redisPer,
      };
    };

    log('warm-up');
    for (const t of targetsAt(64)) for (const c of [16, 64]) await measure(t, c, BENCH.warmupSeconds);

    const runs: Results['runs'] = [];
    for (let round = 0; round < BENCH.rounds; round++) {
      for (const [ci, c] of BENCH.concurrencies.entries()) {
        const ts = targetsAt(c);
        // Rotating order: no target always runs first (cold) or last (after the others heated the box).
        const order = ts.map((_, k) => ts[(round + ci + k) % ts.length]!);
        for (const t of order) {
          const r = await measure(t, c, BENCH.seconds);
          runs.push({ round, target: t, c, ...r });
          log(
            `  r${round} c=${c} ${t.padEnd(13)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms${r.cpuUsPerReq === null ? '' : `  cpu ${r.cpuUsPerReq.toFixed(0)} µs/req`}${r.redis ? `  redis ${r.redis.commands.toFixed(2)} cmd (${r.redis.scripts.toFixed(2)} scripts)/req` : ''}${r.errors + r.non2xx ? `  ERRORS ${r.errors} non2xx ${r.non2xx}` : ''}`,
          );
        }
      }
    }

    log('recording check');
    type Recorded = { store: number; recorder: { dropped: number; journaled: number; written: number } };
    const stored = await meter.call<Recorded>('recorded');
    const storedBudgets = budgets ? await budgets.call<Recorded>('recorded') : null;
    const metricsText = await (await fetch(`${meter.url}/metrics`)).text();
    const metricsTotal = [...metricsText.matchAll(/^claude_meter_requests_total(?:\{[^}]*\})? (\S+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );

    log(`TTFT: ${BENCH.ttftRequests} sequential streaming requests per target, interleaved`);
    const ttftTargets = (['direct', 'bare', 'meter'] as const).map((name) => ({ name, url: urls[name]! }));
    const ttftRaw = await measureTtft(ttftTargets, BENCH.ttftRequests, BENCH.ttftHoldMs);
    const ttft: Results['ttft'] = {};
    for (const [name, r] of Object.entries(ttftRaw)) {
      const s = sortedCopy(r.samples);
      ttft[name as Target] = { median: percentile(s, 50), p99: percentile(s, 99), n: s.length, unbuffered: r.unbuffered };
    }

    log(`memory: ${BENCH.streamMB} MB SSE through claude-meter`);
    await meter.call('mem-start');
    const big = await bigStream(meter.url, BENCH.streamMB * 1024 * 1024);
    const mem = await meter.call<MemSample[]>('mem-stop');
    const rec = await meter.call<RequestRecord | null>('last-record');
    const maxOf = (k: 'rss' | 'heapUsed') => Math.max(...mem.map((s) => s[k]));
    const MB = 1024 * 1024;

    const results: Results = {
      machine: machine(),
      execPath: process.execPath,
      conditions: {
        loadavgStart: load0,
        loadavgEnd: os.loadavg()[0] ?? 0,
        stealPct: ((cpuTimes().steal - cpu0.steal) / Math.max(1, cpuTimes().total - cpu0.total)) * 100,
      },
      bench: { ...BENCH, logLevel: meterLog.level, logDest: meterLog.dest, generatedAt: new Date().toISOString() },
      runs,
      summary: summarize(runs),
      recording: {
        clientOk: answered.meter?.ok ?? 0,
        inflightBound: answered.meter?.inflightAtStops ?? 0,
        store: stored.store,
        metrics: metricsTotal,
        ...stored.recorder,
      },
      recordingBudgets: storedBudgets
        ? {
            clientOk: answered['meter+budgets']?.ok ?? 0,
            inflightBound: answered['meter+budgets']?.inflightAtStops ?? 0,
            store: storedBudgets.store,
            ...storedBudgets.recorder,
          }
        : null,
      ttft,
      memory: {
        mb: big.bytes / MB,
        seconds: big.seconds,
        rssStartMB: mem[0]!.rss / MB,
        rssMaxMB: maxOf('rss') / MB,
        rssEndMB: mem.at(-1)!.rss / MB,
        heapStartMB: mem[0]!.heapUsed / MB,
        heapMaxMB: maxOf('heapUsed') / MB,
        heapEndMB: mem.at(-1)!.heapUsed / MB,
        samples: mem.length,
        upstreamUsage: big.usage,
        recordedUsage: rec?.usage ? { input_tokens: rec.usage.input, output_tokens: rec.usage.output } : null,
        recordedPartial: rec?.partial ?? null,
      },
    };
    const report = renderReport(results);
    const outDir = fileURLToPath(new URL('../.bench/', import.meta.url));
    mkdirSync(outDir, { recursive: true });
    writeFileSync(`${outDir}results.json`, JSON.stringify({ ...results, report }, null, 2));
    process.stdout.write(`${report}\n`);
    log('wrote .bench/results.json');
  } finally {
    admin?.disconnect();
    await Promise.allSettled(children.map((c) => c.stop()));
    killAllChildren();
    await redis?.close();
  }
}

function summarize(runs: Results['runs']): Results['summary'] {
  const out: Results['summary'] = [];
  for (const c of BENCH.concurrencies) {
    for (const target of TARGETS) {
      const rs = runs.filter((r) => r.c === c && r.target === target);
      if (rs.length === 0) continue;
      const cpu = rs.map((r) => r.cpuUsPerReq).filter((x): x is number => x !== null);
      const main = rs.map((r) => r.mainUsPerReq).filter((x): x is number => x !== null);
      const redis = rs.map((r) => r.redis).filter((x): x is RedisPerRequest => x !== null);
      out.push({
        target,
        c,
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuUsPerReq: cpu.length ? median(cpu) : null,
        mainUsPerReq: main.length ? median(main) : null,
        redis: redis.length ? medianRedis(redis) : null,
        errors: rs.reduce((n, r) => n + r.errors + r.non2xx, 0),
      });
    }
  }
  return out;
}

/** Each figure's median across rounds. */
function medianRedis(xs: RedisPerRequest[]): RedisPerRequest {
  const cmds = new Set(xs.flatMap((x) => Object.keys(x.byCommand)));
  return {
    commands: median(xs.map((x) => x.commands)),
    scripts: median(xs.map((x) => x.scripts)),
    cpuUs: median(xs.map((x) => x.cpuUs)),
    byCommand: Object.fromEntries([...cmds].map((k) => [k, median(xs.map((x) => x.byCommand[k] ?? 0))])),
  };
}

main()
  // BENCH_WORKERS=1: the workers section too (bench/workers.ts), after the main table.
  .then(
    async () => process.env['BENCH_WORKERS'] === '1' && process.stdout.write(`\n${await (await import('./workers.ts')).workersBench()}\n`),
  )
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
