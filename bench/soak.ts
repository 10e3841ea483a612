/**
 * `npm run soak`: claude-meter as shipped (bench/meter-child.ts: the default config, Redis,
 * the request log) with two budgets on (bench/soak.yaml: a global day budget and a per_key
 * month budget that every request fits), under a steady open-loop load of JSON and streaming
 * Messages calls, for SOAK_SECONDS. Every SOAK_SAMPLE_SECONDS it reads the proxy's own process
 * metrics from /metrics (RSS, heap, event-loop delay), its event-loop utilisation and Redis's
 * memory, and prints a row. At the end it checks exactness against what the mock upstream
 * billed: records in Redis = requests sent = answers served, tokens by kind and cost equal,
 * each budget's spend equal and nothing left reserved. Exit 1 on any error or difference.
 *
 * Everything runs on 127.0.0.1 and stops by itself. Knobs: SOAK_SECONDS (600), SOAK_RATE
 * (200 req/s), SOAK_STREAM_SHARE (0.5), SOAK_KEYS (20 API keys, round robin: per_key
 * instances), SOAK_SAMPLE_SECONDS (10). The report goes to stdout, progress to stderr.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.ts';
import { TOKEN_KINDS } from '../src/core/usage.ts';
import { type Child, killAllChildren, spawnChild } from './lib/children.ts';
import { openLoop } from './lib/open-loop.ts';
import { HEADERS, messagesBody } from './lib/request.ts';
import { median } from './lib/stats.ts';

process.once('SIGINT', () => process.exit(130)); // 'exit' hooks kill the children and redis-server

const env = process.env;
const knob = (name: string, dflt: number): number => {
  const v = env[name];
  const n = v === undefined || v === '' ? dflt : Number(v);
  if (!(Number.isFinite(n) && n >= 0)) throw new Error(`${name} must be a non-negative number, got '${v}'`);
  return n;
};
const SECONDS = knob('SOAK_SECONDS', 600);
const RATE = knob('SOAK_RATE', 200);
const STREAM_SHARE = knob('SOAK_STREAM_SHARE', 0.5);
const KEYS = Math.max(1, Math.round(knob('SOAK_KEYS', 20)));
const SAMPLE_S = knob('SOAK_SAMPLE_SECONDS', 10) || 10;
const CONFIG = fileURLToPath(new URL('soak.yaml', import.meta.url));
const log = (s: string) => process.stderr.write(`${s}\n`);

/**
 * USD per million tokens of claude-sonnet-4-5 (the mock's model), written out here rather than
 * read from the pricer under test: the bill is computed independently of claude-meter.
 */
const PRICE_PER_MTOK = { input: 3, output: 15, cache_creation_5m: 3.75, cache_creation_1h: 6, cache_read: 0.3 } as const;

interface MockUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}
type Tokens = Record<(typeof TOKEN_KINDS)[number], number>;

/** One answer's tokens by kind; cache writes without a TTL split are 5-minute ones, as the API bills them. */
function tokensOf(u: MockUsage): Tokens {
  return {
    input: u.input_tokens,
    output: u.output_tokens,
    cache_creation_5m: u.cache_creation_input_tokens ?? 0,
    cache_creation_1h: 0,
    cache_read: u.cache_read_input_tokens ?? 0,
  };
}

/** Exact pico-USD (1e-12 USD) of `t`: USD/MTok × 1e6 = pico per token. */
function picoOf(t: Tokens): bigint {
  return TOKEN_KINDS.reduce((s, k) => s + BigInt(t[k]) * BigInt(Math.round(PRICE_PER_MTOK[k] * 1e6)), 0n);
}

interface Row {
  t: number;
  reqPerS: number;
  errors: number;
  p50: number;
  p99: number;
  rssMB: number;
  heapMB: number;
  eldP99Ms: number;
  eldMaxMs: number;
  elu: number;
  journal: number;
  redisMB: number;
}

/** The value of one unlabelled series in a Prometheus text scrape, or NaN. */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

const MB = 1024 * 1024;
const fmt = (n: number, d = 1) => (Number.isNaN(n) ? '–' : n.toFixed(d));

/** Sum of a hash field over every budget instance key of `budget` (all windows, so a soak across midnight still adds up). */
async function budgetSum(redis: Redis, budget: string, field: 's' | 'r'): Promise<{ instances: number; pico: bigint }> {
  let cursor = '0';
  let instances = 0;
  let pico = 0n;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{cm:budget}:i:${budget}:*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      if (k.endsWith(':res') || k.endsWith(':resv')) continue;
      instances += 1;
      pico += BigInt((await redis.hget(k, field)) ?? '0');
    }
  } while (cursor !== '0');
  return { instances, pico };
}

async function main(): Promise<number> {
  const load0 = os.loadavg();
  let redisServer: RedisServer | null = null;
  let client: Redis | null = null;
  const children: Child[] = [];
  try {
    redisServer = await startRedis();
    client = new Redis(redisServer.url);
    const upstream = await spawnChild('upstream', 'mock-upstream.ts', {});
    children.push(upstream);
    const meter = await spawnChild('meter', 'meter-child.ts', {
      UPSTREAM_URL: upstream.url,
      REDIS_URL: redisServer.url,
      BENCH_CONFIG: CONFIG,
    });
    children.push(meter);
    log(`soak: ${SECONDS} s at ${RATE} req/s, ${Math.round(STREAM_SHARE * 100)}% streaming, ${KEYS} keys, sample every ${SAMPLE_S} s`);
    log(
      `pids: upstream ${upstream.pid}, meter ${meter.pid}, redis on ${redisServer.port}; load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
    );

    const jsonBody = messagesBody(false);
    const streamBody = messagesBody(true);
    // Which requests stream: evenly spread (a Bresenham pattern), so every interval has its share.
    const streams = (i: number) => Math.floor((i + 1) * STREAM_SHARE) > Math.floor(i * STREAM_SHARE);
    const loadGen = openLoop({
      url: meter.url,
      rate: RATE,
      seconds: SECONDS,
      request: (i) => ({
        headers: { ...HEADERS, 'x-api-key': `sk-ant-api03-soak-${i % KEYS}-0000000000000000000000000000` },
        body: streams(i) ? streamBody : jsonBody,
        stream: streams(i),
      }),
    });

    const rows: Row[] = [];
    let elu0 = await meter.call<EventLoopUtilization>('elu');
    const t0 = performance.now();
    const sample = async (): Promise<void> => {
      const iv = loadGen.interval();
      const text = await (await fetch(`${meter.url}/metrics`)).text();
      const elu1 = await meter.call<EventLoopUtilization>('elu');
      const busy = elu1.active - elu0.active;
      const elu = busy / Math.max(1e-9, busy + elu1.idle - elu0.idle);
      elu0 = elu1;
      const redisMem = /used_memory:(\d+)/.exec(await (client as Redis).info('memory'))?.[1];
      const row: Row = {
        t: (performance.now() - t0) / 1000,
        reqPerS: iv.sent / SAMPLE_S,
        errors: iv.errors,
        p50: iv.p50,
        p99: iv.p99,
        rssMB: metric(text, 'claude_meter_process_resident_memory_bytes') / MB,
        heapMB: metric(text, 'claude_meter_nodejs_heap_size_used_bytes') / MB,
        // monitorEventLoopDelay's percentiles since the previous scrape (prom-client resets it on each).
        eldP99Ms: metric(text, 'claude_meter_nodejs_eventloop_lag_p99_seconds') * 1000,
        eldMaxMs: metric(text, 'claude_meter_nodejs_eventloop_lag_max_seconds') * 1000,
        elu,
        journal: metric(text, 'claude_meter_store_journal_records'),
        redisMB: Number(redisMem ?? Number.NaN) / MB,
      };
      rows.push(row);
      log(
        `  ${fmt(row.t, 0).padStart(4)} s  ${fmt(row.reqPerS, 0)} req/s  p50 ${fmt(row.p50, 2)} ms  p99 ${fmt(row.p99, 2)} ms  RSS ${fmt(row.rssMB)} MB  heap ${fmt(row.heapMB)} MB  ELD p99 ${fmt(row.eldP99Ms, 2)} ms  ELU ${fmt(row.elu * 100, 0)}%${row.errors ? `  ERRORS ${row.errors}` : ''}`,
      );
    };
    await fetch(`${meter.url}/metrics`).then((r) => r.text()); // starts the delay histogram's first interval at t0
    let sampling = Promise.resolve();
    const timer = setInterval(() => {
      sampling = sampling.then(sample);
    }, SAMPLE_S * 1000);
    await loadGen.done;
    clearInterval(timer);
    await sampling;
    if (rows.length === 0 || rows[rows.length - 1]!.t < SECONDS) await sample();

    log('exactness check');
    await meter.call('flush');
    const stored = await meter.call<{
      requests: number;
      errors: number;
      partial: number;
      usageMissing: number;
      tokens: Tokens;
      costPicoUsd: string;
    }>('totals');
    const served = await upstream.call<{ json: number; sse: number }>('served');
    const usage = await upstream.call<MockUsage>('usage');
    const sent = loadGen.totals();
    const answers = served.json + served.sse;
    const unit = tokensOf(usage);
    const billedTokens = Object.fromEntries(TOKEN_KINDS.map((k) => [k, unit[k] * answers])) as Tokens;
    const billedPico = picoOf(unit) * BigInt(answers);
    const day = await budgetSum(client, 'soak-day', 's');
    const dayReserved = await budgetSum(client, 'soak-day', 'r');
    const perKey = await budgetSum(client, 'soak-key-month', 's');
    const perKeyReserved = await budgetSum(client, 'soak-key-month', 'r');

    const checks: Array<[string, boolean, string]> = [
      [
        'zero client errors',
        sent.errors === 0,
        `${sent.errors} errors${sent.firstErrors.length ? `: ${sent.firstErrors.join('; ')}` : ''}`,
      ],
      [
        'answers served = requests sent',
        answers === sent.sent,
        `${answers} served (${served.json} JSON, ${served.sse} SSE), ${sent.sent} sent`,
      ],
      ['records in Redis = requests sent', stored.requests === sent.sent, `${stored.requests} records`],
      [
        'no record flagged (error, partial, usage missing)',
        stored.errors + stored.partial + stored.usageMissing === 0,
        `${stored.errors} / ${stored.partial} / ${stored.usageMissing}`,
      ],
      ...TOKEN_KINDS.map((k): [string, boolean, string] => [
        `${k} tokens = billed`,
        stored.tokens[k] === billedTokens[k],
        `${stored.tokens[k]} stored, ${billedTokens[k]} billed`,
      ]),
      ['cost = billed (pico-USD)', BigInt(stored.costPicoUsd) === billedPico, `${stored.costPicoUsd} stored, ${billedPico} billed`],
      [
        'global day budget spent = billed',
        day.pico === billedPico,
        `${day.pico} in ${day.instances} instance(s), reserved ${dayReserved.pico}`,
      ],
      [
        'per_key month budgets spent = billed',
        perKey.pico === billedPico,
        `${perKey.pico} over ${perKey.instances} instances, reserved ${perKeyReserved.pico}`,
      ],
      ['nothing left reserved', dayReserved.pico === 0n && perKeyReserved.pico === 0n, `${dayReserved.pico + perKeyReserved.pico}`],
    ];

    const load1 = os.loadavg();
    const out: string[] = [];
    out.push(`## Soak: ${SECONDS} s at ${RATE} req/s (${Math.round(STREAM_SHARE * 100)}% streaming), budgets on`, '');
    out.push(
      `${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, Node ${process.version}; load average at start ${load0[0]?.toFixed(2)}, at end ${load1[0]?.toFixed(2)} (1 min) / ${load1[2]?.toFixed(2)} (15 min)`,
      '',
    );
    out.push('| t (s) | req/s | errors | p50 ms | p99 ms | RSS MB | heap MB | ELD p99 ms | ELD max ms | ELU | journal | Redis MB |');
    out.push('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of rows) {
      out.push(
        `| ${fmt(r.t, 0)} | ${fmt(r.reqPerS, 0)} | ${r.errors} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.rssMB)} | ${fmt(r.heapMB)} | ${fmt(r.eldP99Ms, 2)} | ${fmt(r.eldMaxMs, 1)} | ${fmt(r.elu * 100, 0)}% | ${r.journal} | ${fmt(r.redisMB)} |`,
      );
    }
    out.push('');
    out.push(
      'ELD: `claude_meter_nodejs_eventloop_lag_p99_seconds` / `_max_seconds` (monitorEventLoopDelay since the previous scrape). It times a 10 ms timer, so an idle loop reads about 10 ms: the delay is the excess. ELU: event-loop utilisation over the interval.',
    );
    const half = rows.slice(0, Math.ceil(rows.length / 2));
    const rest = rows.slice(Math.ceil(rows.length / 2));
    const med = (rs: Row[], k: 'rssMB' | 'heapMB' | 'eldP99Ms') => median(rs.map((r) => r[k]));
    out.push('');
    out.push(
      `RSS median ${fmt(med(half, 'rssMB'))} MB over the first half, ${fmt(med(rest, 'rssMB'))} MB over the second (min ${fmt(Math.min(...rows.map((r) => r.rssMB)))}, max ${fmt(Math.max(...rows.map((r) => r.rssMB)))}); heap ${fmt(med(half, 'heapMB'))} → ${fmt(med(rest, 'heapMB'))} MB; event-loop delay p99 ${fmt(med(half, 'eldP99Ms'), 2)} → ${fmt(med(rest, 'eldP99Ms'), 2)} ms (medians of the samples).`,
    );
    out.push('');
    for (const [what, ok, detail] of checks) out.push(`- ${ok ? 'PASS' : '**FAIL**'} ${what}: ${detail}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return checks.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    for (const c of children.reverse()) await c.stop();
    killAllChildren();
    client?.disconnect();
    await redisServer?.close();
  }
}

interface EventLoopUtilization {
  idle: number;
  active: number;
  utilization: number;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
