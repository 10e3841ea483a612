/**
 * `npm run bench`: claude-meter against a bare undici pass-through and the upstream itself,
 * plus the same pipeline on the http-proxy-3 engine for the engine decision.
 * Every server runs in its own child process; autocannon (the load generator) runs here.
 * Progress goes to stderr; the Markdown report to stdout and .bench/results.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.ts';
import { BENCH } from './lib/config.ts';
import { spawnChild, killAllChildren, type Child } from './lib/children.ts';
import type { MemSample } from './lib/child-runtime.ts';
import type { BenchLog } from './lib/logger.ts';
import { runLoad, type LoadResult } from './lib/load.ts';
import { median, percentile, sleep, sortedCopy } from './lib/stats.ts';
import { bigStream, measureTtft } from './lib/streaming.ts';
import { renderReport, type Results, type Target } from './lib/report.ts';
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
  try {
    log(`bench: ${BENCH.quick ? 'QUICK smoke run, ' : ''}${BENCH.rounds} rounds × ${BENCH.seconds} s, c=${BENCH.concurrencies.join('/')}`);
    redis = await startRedis();
    const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
    children.push(upstream);
    const env = { UPSTREAM_URL: upstream.url, REDIS_URL: redis.url };
    const prof = BENCH.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${BENCH.profileDir}`] : [];
    const bare = await spawnChild('bare', 'bare-proxy.ts', env, prof);
    const meter = await spawnChild('meter', 'meter-child.ts', env, prof);
    children.push(bare, meter);
    const variant = BENCH.variant ? await spawnChild('variant', 'meter-child.ts', { ...env, BENCH_ENGINE: 'httpproxy3' }, prof) : null;
    if (variant) children.push(variant);
    const meterLog = await meter.call<BenchLog>('log');
    log(
      `pids: upstream ${upstream.pid}, bare ${bare.pid}, meter ${meter.pid}${variant ? `, variant ${variant.pid}` : ''}; meter log level ${meterLog.level} → ${meterLog.dest}`,
    );
    const procs: Partial<Record<Target, Child>> = { bare, meter, ...(variant ? { variant } : {}) };
    const urls: Partial<Record<Target, string>> = {
      direct: upstream.url,
      bare: bare.url,
      meter: meter.url,
      ...(variant ? { variant: variant.url } : {}),
    };
    const targetsAt = (c: number): Target[] =>
      (['direct', 'bare', 'meter', 'variant'] as const).filter(
        (t) => urls[t] && (t !== 'variant' || BENCH.variantConcurrencies.includes(c)),
      );

    // Requests the meter answered, to check afterwards that its store holds every one.
    const meterClient = { ok: 0, inflightAtStops: 0 };
    const measure = async (
      t: Target,
      c: number,
      seconds: number,
    ): Promise<LoadResult & { cpuUsPerReq: number | null; mainUsPerReq: number | null }> => {
      const proc = procs[t];
      const before = proc ? await proc.call<Cpu>('cpu') : null;
      const mainBefore = proc ? await proc.call<number>('cpu-main') : null;
      const r = await runLoad(urls[t]!, c, seconds);
      const after = proc ? await proc.call<Cpu>('cpu') : null;
      const mainAfter = proc ? await proc.call<number>('cpu-main') : null;
      if (t === 'meter') {
        meterClient.ok += r.ok;
        meterClient.inflightAtStops += c;
      }
      await sleep(200); // let sockets and timers settle before the next target
      return {
        ...r,
        cpuUsPerReq: before && after ? (cpuMs(before, after) * 1000) / r.ok : null,
        mainUsPerReq: mainBefore !== null && mainAfter !== null ? (mainAfter - mainBefore) / r.ok : null,
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
            `  r${round} c=${c} ${t.padEnd(7)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms${r.cpuUsPerReq === null ? '' : `  cpu ${r.cpuUsPerReq.toFixed(0)} µs/req`}${r.errors + r.non2xx ? `  ERRORS ${r.errors} non2xx ${r.non2xx}` : ''}`,
          );
        }
      }
    }

    log('recording check');
    const stored = await meter.call<{ store: number; recorder: { dropped: number; journaled: number; written: number } }>('recorded');
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
      conditions: {
        loadavgStart: load0,
        loadavgEnd: os.loadavg()[0] ?? 0,
        stealPct: ((cpuTimes().steal - cpu0.steal) / Math.max(1, cpuTimes().total - cpu0.total)) * 100,
      },
      bench: { ...BENCH, logLevel: meterLog.level, logDest: meterLog.dest, generatedAt: new Date().toISOString() },
      runs,
      summary: summarize(runs),
      recording: {
        clientOk: meterClient.ok,
        inflightBound: meterClient.inflightAtStops,
        store: stored.store,
        metrics: metricsTotal,
        ...stored.recorder,
      },
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
    await Promise.allSettled(children.map((c) => c.stop()));
    killAllChildren();
    await redis?.close();
  }
}

function summarize(runs: Results['runs']): Results['summary'] {
  const out: Results['summary'] = [];
  for (const c of BENCH.concurrencies) {
    for (const target of ['direct', 'bare', 'meter', 'variant'] as const) {
      const rs = runs.filter((r) => r.c === c && r.target === target);
      if (rs.length === 0) continue;
      const cpu = rs.map((r) => r.cpuUsPerReq).filter((x): x is number => x !== null);
      const main = rs.map((r) => r.mainUsPerReq).filter((x): x is number => x !== null);
      out.push({
        target,
        c,
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuUsPerReq: cpu.length ? median(cpu) : null,
        mainUsPerReq: main.length ? median(main) : null,
        errors: rs.reduce((n, r) => n + r.errors + r.non2xx, 0),
      });
    }
  }
  return out;
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
