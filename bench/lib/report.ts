/** Results → the Markdown block pasted into docs/performance.md, with goals judged PASS/FAIL. */
import type { LoadResult } from './load.ts';

export const TARGETS = ['direct', 'bare', 'meter', 'meter+budgets', 'variant'] as const;
export type Target = (typeof TARGETS)[number];

/** Redis's work per proxied request (bench/lib/redis-stats.ts); commands include those scripts run. */
export interface RedisPerRequest {
  commands: number;
  scripts: number;
  cpuUs: number;
  byCommand: Record<string, number>;
}

export interface Summary {
  target: Target;
  c: number;
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerReq: number | null;
  /** The main thread alone: what bounds one event loop. */
  mainUsPerReq: number | null;
  redis: RedisPerRequest | null;
  errors: number;
}

export interface Results {
  machine: { cpu: string; cores: number; node: string; redis: string; os: string };
  /** The node binary that ran the bench; every child runs the same one. */
  execPath: string;
  conditions: { loadavgStart: number; loadavgEnd: number; stealPct: number };
  bench: {
    quick: boolean;
    seconds: number;
    rounds: number;
    warmupSeconds: number;
    ttftRequests: number;
    ttftHoldMs: number;
    streamMB: number;
    budgets: boolean;
    budgetsConfig: string;
    keys: number;
    logLevel: string;
    logDest: string;
    generatedAt: string;
  };
  runs: Array<
    LoadResult & {
      round: number;
      target: Target;
      c: number;
      cpuUsPerReq: number | null;
      mainUsPerReq: number | null;
      redis: RedisPerRequest | null;
    }
  >;
  summary: Summary[];
  recording: {
    clientOk: number;
    inflightBound: number;
    store: number;
    metrics: number;
    written: number;
    dropped: number;
    journaled: number;
  };
  /** The same check for the two-budget meter (its own key prefix), when it ran. */
  recordingBudgets: {
    clientOk: number;
    inflightBound: number;
    store: number;
    written: number;
    dropped: number;
    journaled: number;
  } | null;
  ttft: Partial<Record<Target, { median: number; p99: number; n: number; unbuffered: boolean }>>;
  memory: {
    mb: number;
    seconds: number;
    rssStartMB: number;
    rssMaxMB: number;
    rssEndMB: number;
    heapStartMB: number;
    heapMaxMB: number;
    heapEndMB: number;
    samples: number;
    upstreamUsage: { input_tokens: number; output_tokens: number } | null;
    recordedUsage: { input_tokens: number; output_tokens: number } | null;
    recordedPartial: boolean | null;
  };
}

const NAMES: Record<Target, string> = {
  direct: 'direct upstream',
  bare: 'bare pass-through (undici)',
  meter: '**claude-meter** (undici dispatch, Redis)',
  'meter+budgets': '**claude-meter + two budgets** (global day, per_key month)',
  variant: 'http-proxy-3 on node:http (comparison)',
};
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const signed = (x: number, d = 3) => (x >= 0 ? '+' : '') + f(x, d);
const pct = (x: number) => `${f(x * 100, 0)}%`;
const pass = (ok: boolean) => (ok ? '**PASS**' : '**FAIL**');

export function renderReport(r: Results): string {
  const get = (t: Target, c: number) => r.summary.find((s) => s.target === t && s.c === c);
  const cs = [...new Set(r.summary.map((s) => s.c))];
  const L: string[] = [];
  const b = r.bench;
  L.push(
    `#### Benchmark (${b.generatedAt.slice(0, 10)}, Node ${r.machine.node}${b.quick ? ', QUICK smoke run: not a measurement' : ''})`,
    '',
  );
  L.push(
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, redis-server ${r.machine.redis}, ${r.machine.os}. ` +
      'Load generator (autocannon), mock upstream, proxy and Redis all share these cores over 127.0.0.1, each server in its own process. ' +
      `Conditions: 1-min load average ${f(r.conditions.loadavgStart)} at start, ${f(r.conditions.loadavgEnd)} at end; CPU steal ${f(r.conditions.stealPct, 1)}% ` +
      '(other tenants on the host: compare targets within a run, not runs with each other).',
    '',
  );
  L.push(
    `Method: closed-loop \`POST /v1/messages\` with a ~1 KB JSON response; ${b.rounds} round(s) × ${b.seconds} s per target and concurrency, ` +
      `targets interleaved in rotating order after ${b.warmupSeconds} s warm-ups; medians across rounds. ` +
      (process.env['BENCH_RUNTIME'] === 'tsx'
        ? 'Every server runs from source through tsx (BENCH_RUNTIME=tsx). '
        : "Every server runs as one JavaScript bundle built with the product's build options (scripts/build.mjs, as `npm start` runs claude-meter). ") +
      `claude-meter: \`createApp\`, ` +
      `default config, Redis store (every request recorded), log level \`${b.logLevel}\`${b.logLevel === 'info' ? ' (the default: one JSON line per request)' : ''} ` +
      `through its buffered asynchronous destination to \`${b.logDest}\`. CPU = user+system of the proxy process per request (all threads), Redis writes included; main thread = its event loop alone, what bounds throughput. ` +
      `Requests rotate through ${b.keys} API key(s) (BENCH_KEYS)` +
      (b.budgets
        ? `; claude-meter + two budgets is the same with \`${b.budgetsConfig}\` (a global day and a per_key month budget that every request fits: admission and settle on each request, never a refusal or a wait), measured at c=${r.summary
            .filter((s) => s.target === 'meter+budgets')
            .map((s) => s.c)
            .join(' and c=')}.`
        : '.'),
    '',
  );

  L.push('| target | c | req/s | p50 ms | p99 ms | proxy CPU µs/req | of which main thread |', '|---|--:|--:|--:|--:|--:|--:|');
  const us = (x: number | null) => (x === null ? '–' : f(x, 0));
  for (const c of cs)
    for (const t of ['direct', 'bare', 'meter', 'meter+budgets'] as const) {
      const s = get(t, c);
      if (s)
        L.push(`| ${NAMES[t]} | ${c} | ${f(s.rps, 0)} | ${f(s.p50, 3)} | ${f(s.p99, 3)} | ${us(s.cpuUsPerReq)} | ${us(s.mainUsPerReq)} |`);
    }
  L.push('');

  L.push(
    '| claude-meter, c | req/s vs bare | req/s vs direct | added p50 vs bare | added p99 vs bare | added p50 vs direct | added p99 vs direct |',
    '|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const c of cs) {
    const m = get('meter', c);
    const br = get('bare', c);
    const d = get('direct', c);
    if (!m || !br || !d) continue;
    L.push(
      `| ${c} | ${pct(m.rps / br.rps)} | ${pct(m.rps / d.rps)} | ${signed(m.p50 - br.p50)} ms | ${signed(m.p99 - br.p99)} ms | ${signed(m.p50 - d.p50)} ms | ${signed(m.p99 - d.p99)} ms |`,
    );
  }
  L.push('');

  L.push(...configurations(r, get));

  const errors = r.summary.reduce((n, s) => n + s.errors, 0);
  const rec = r.recording;
  const rb = r.recordingBudgets;
  const holdsAll = (x: { store: number; clientOk: number; inflightBound: number; dropped: number; journaled: number }) =>
    x.store >= x.clientOk && x.store - x.clientOk <= x.inflightBound && x.dropped === 0 && x.journaled === 0;
  const recordedAll = holdsAll(rec) && (rb === null || holdsAll(rb));
  L.push(
    `Recording: the client got ${rec.clientOk} responses from claude-meter; its Redis store holds **${rec.store}** requests ` +
      `(\`claude_meter_requests_total\` = ${rec.metrics}, recorder written ${rec.written}, dropped ${rec.dropped}, journaled ${rec.journaled}). ` +
      `The store may exceed the client count by requests cut in flight when a run stops (at most ${rec.inflightBound}). ` +
      (rb
        ? `With the two budgets: ${rb.clientOk} answered, **${rb.store}** stored (written ${rb.written}, dropped ${rb.dropped}, journaled ${rb.journaled}; at most ${rb.inflightBound} cut in flight). `
        : '') +
      `Errors/non-2xx in all runs: ${errors}.`,
    '',
  );

  const tt = r.ttft;
  L.push(
    `Streaming time to first byte (c=1, ${b.ttftRequests} sequential requests per target, interleaved; the upstream sends \`message_start\` at once and the rest ${b.ttftHoldMs} ms later):`,
    '',
  );
  L.push('| target | median TTFT ms | p99 TTFT ms | first chunk unbuffered |', '|---|--:|--:|:-:|');
  for (const t of ['direct', 'bare', 'meter'] as const) {
    const x = tt[t];
    if (x) L.push(`| ${NAMES[t]} | ${f(x.median, 3)} | ${f(x.p99, 3)} | ${x.unbuffered ? 'yes' : 'NO'} |`);
  }
  const ttftAdded = (tt.meter?.median ?? NaN) - (tt.bare?.median ?? NaN);
  const ttftAddedP99 = (tt.meter?.p99 ?? NaN) - (tt.bare?.p99 ?? NaN);
  L.push('', `claude-meter adds ${signed(ttftAdded)} ms median and ${signed(ttftAddedP99)} ms p99 TTFT over the bare pass-through.`, '');

  const m = r.memory;
  const growth = m.rssMaxMB - m.rssStartMB;
  const usageOk =
    m.upstreamUsage !== null &&
    m.recordedUsage !== null &&
    m.upstreamUsage.input_tokens === m.recordedUsage.input_tokens &&
    m.upstreamUsage.output_tokens === m.recordedUsage.output_tokens;
  L.push(
    `Memory: one ${f(m.mb, 0)} MB SSE response streamed through claude-meter to a client reading at full speed (${f(m.mb / m.seconds, 0)} MB/s; RSS sampled every 100 ms, ${m.samples} samples):`,
    '',
  );
  L.push(
    '| RSS start | RSS max | RSS end | heapUsed start / max / end | usage from upstream | usage recorded |',
    '|--:|--:|--:|--:|--:|--:|',
  );
  const u = (x: { input_tokens: number; output_tokens: number } | null) => (x ? `in ${x.input_tokens}, out ${x.output_tokens}` : 'none');
  L.push(
    `| ${f(m.rssStartMB, 1)} MB | ${f(m.rssMaxMB, 1)} MB | ${f(m.rssEndMB, 1)} MB | ${f(m.heapStartMB, 1)} / ${f(m.heapMaxMB, 1)} / ${f(m.heapEndMB, 1)} MB | ${u(m.upstreamUsage)} | ${u(m.recordedUsage)}${m.recordedPartial ? ' (partial!)' : ''} |`,
    '',
  );

  L.push(...engineDecision(cs, get));

  const m64 = get('meter', 64);
  const b64 = get('bare', 64);
  const m1 = get('meter', 1);
  const b1 = get('bare', 1);
  L.push('| goal | measured | result |', '|---|---|:-:|');
  const paired = pairedRatios(r.runs, 64);
  if (m64 && b64 && paired.length) {
    const med = medianOf(paired);
    L.push(
      `| c=64 throughput >= 70% of bare pass-through, Redis recording on | ${pct(med)} median of ${paired.length} paired rounds (range ${pct(Math.min(...paired))}–${pct(Math.max(...paired))}); medians ${f(m64.rps, 0)} vs ${f(b64.rps, 0)} req/s | ${pass(med >= 0.7)} |`,
    );
  }
  if (m1 && b1) L.push(`| c=1 added p50 <= 0.5 ms over bare | ${signed(m1.p50 - b1.p50)} ms | ${pass(m1.p50 - b1.p50 <= 0.5)} |`);
  L.push(
    `| streaming TTFT added <= 1 ms (median, vs bare) | ${signed(ttftAdded)} ms | ${pass(ttftAdded <= 1 && (tt.meter?.unbuffered ?? false))} |`,
  );
  L.push(
    `| memory flat while ${f(m.mb, 0)} MB streams (RSS growth < 50 MB, usage recorded exactly) | +${f(growth, 1)} MB RSS, usage ${usageOk ? 'equal' : 'DIFFERS'} | ${pass(growth < 50 && usageOk)} |`,
  );
  L.push(
    `| every request recorded in Redis, no errors | ${rec.store} stored for ${rec.clientOk} answered${rb ? ` (with budgets ${rb.store} for ${rb.clientOk})` : ''}, ${errors} errors | ${pass(recordedAll && errors === 0)} |`,
  );
  L.push(...budgetGoals(r, get));
  return L.join('\n');
}

/**
 * The configurations side by side, shaped like issue 19's table: throughput as the median
 * of per-round ratios to bare at c=64, proxy CPU at c=64 (the proxy process alone), and the
 * p50 a proxy adds over the upstream itself at c=1, each with bare's figure from the same run.
 */
function configurations(r: Results, get: (t: Target, c: number) => Summary | undefined): string[] {
  const d1 = get('direct', 1);
  const b1 = get('bare', 1);
  const b64 = get('bare', 64);
  if (!d1 || !b1 || !b64) return [];
  const rows = [
    ['no budget', 'meter'],
    ['a global day budget and a per_key month budget, every request fits', 'meter+budgets'],
  ] as const;
  const L = [
    "| configuration | runtime | c=64 throughput vs bare | proxy CPU µs/req (bare) | c=1 added p50 over direct (bare's) |",
    '|---|---|--:|--:|--:|',
  ];
  const us = (x: number | null) => (x === null ? '–' : f(x, 0));
  for (const [name, t] of rows) {
    const m64 = get(t, 64);
    const m1 = get(t, 1);
    const paired = pairedRatios(r.runs, 64, t);
    if (!m64 || !m1 || !paired.length) continue;
    L.push(
      `| ${name} | Node ${r.machine.node} | ${f(medianOf(paired))}x | ${us(m64.cpuUsPerReq)} (${us(b64.cpuUsPerReq)}) | ${f(m1.p50 - d1.p50, 3)} ms (${f(b1.p50 - d1.p50, 3)}) |`,
    );
  }
  L.push('');
  const withRedis = r.summary.filter((s) => s.redis && s.target !== 'variant');
  if (withRedis.length) {
    L.push(
      "Redis per request, from `INFO commandstats` and `INFO cpu` deltas of the bench's redis-server around each run (medians across rounds; " +
        'all commands counts the ones a script runs as well as the script call; writes in flight flushed before the second reading):',
      '',
      '| target | c | Redis commands / req, all | script calls (evalsha) / req | Redis CPU µs/req | by command, per request |',
      '|---|--:|--:|--:|--:|---|',
    );
    for (const s of withRedis) {
      const x = s.redis!;
      const by = Object.entries(x.byCommand)
        .filter(([, n]) => n >= 0.005)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${f(n, 2)}`)
        .join(', ');
      L.push(`| ${NAMES[s.target]} | ${s.c} | ${f(x.commands, 2)} | ${f(x.scripts, 2)} | ${f(x.cpuUs, 1)} | ${by} |`);
    }
    L.push('');
  }
  return L;
}

/** Issue 19's goals for the two budgets: where the budget path work stands in this run. */
function budgetGoals(r: Results, get: (t: Target, c: number) => Summary | undefined): string[] {
  const g64 = get('meter+budgets', 64);
  const m64 = get('meter', 64);
  const g1 = get('meter+budgets', 1);
  const b1 = get('bare', 1);
  const d1 = get('direct', 1);
  const paired = pairedRatios(r.runs, 64, 'meter+budgets');
  if (!g64 || !m64 || !g1 || !b1 || !d1 || !paired.length) return [];
  const ratio = medianOf(paired);
  const added = g1.p50 - d1.p50;
  const bareAdded = b1.p50 - d1.p50;
  const L = ['', '| with the two budgets (issue 19) | measured | result |', '|---|---|:-:|'];
  L.push(`| c=64 throughput >= 0.8x bare | ${f(ratio)}x | ${pass(ratio >= 0.8)} |`);
  L.push(`| c=1 added p50 <= bare's + 0.1 ms | ${f(added, 3)} ms vs ${f(bareAdded, 3)} + 0.1 ms | ${pass(added <= bareAdded + 0.1)} |`);
  if (g64.cpuUsPerReq !== null && m64.cpuUsPerReq !== null) {
    const k = g64.cpuUsPerReq / m64.cpuUsPerReq;
    L.push(
      `| proxy CPU <= 1.3x the no-budget figure (c=64) | ${f(g64.cpuUsPerReq, 0)} vs ${f(m64.cpuUsPerReq, 0)} µs/req: ${f(k)}x | ${pass(k <= 1.3)} |`,
    );
  }
  return L;
}

/**
 * claude-meter's req/s over bare's within each round (the two runs are adjacent in time).
 * On a shared VM the machine's own speed drifts within a minute; a ratio of whole-run
 * medians mixes fast and slow moments, a per-round ratio compares like with like.
 */
function pairedRatios(runs: Results['runs'], c: number, target: Target = 'meter'): number[] {
  const out: number[] = [];
  for (const round of new Set(runs.map((x) => x.round))) {
    const m = runs.find((x) => x.round === round && x.c === c && x.target === target);
    const b = runs.find((x) => x.round === round && x.c === c && x.target === 'bare');
    if (m && b && b.rps > 0) out.push(m.rps / b.rps);
  }
  return out;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The same pipeline (tap, pricing, metrics, budget gate, Redis recorder) on the shipped
 * undici engine and on the http-proxy-3 comparison, with a verdict computed from this run.
 */
function engineDecision(cs: number[], get: (t: Target, c: number) => Summary | undefined): string[] {
  const vs = cs.map((c) => ({ c, v: get('variant', c), m: get('meter', c), br: get('bare', c) })).filter((x) => x.v && x.m && x.br);
  if (vs.length === 0) return [];
  const L: string[] = [];
  L.push('Engine decision: the same pipeline (tap, pricing, metrics, budget gate, Redis recorder) on two forwarding engines:', '');
  L.push('| engine | c | req/s | vs bare | p50 ms | p99 ms | CPU µs/req |', '|---|--:|--:|--:|--:|--:|--:|');
  const engines = [
    ['undici `dispatch()` (shipped, src/upstream/forward.ts)', 'm'],
    ['http-proxy-3 on node:http (comparison, bench/httpproxy3-forwarder-variant.ts)', 'v'],
  ] as const;
  for (const x of vs)
    for (const [name, k] of engines) {
      const s = x[k]!;
      L.push(
        `| ${name} | ${x.c} | ${f(s.rps, 0)} | ${pct(s.rps / x.br!.rps)} | ${f(s.p50, 3)} | ${f(s.p99, 3)} | ${s.cpuUsPerReq === null ? '–' : f(s.cpuUsPerReq, 0)} |`,
      );
    }
  const hi = vs.find((x) => x.c === Math.max(...vs.map((y) => y.c)))!;
  const lo = vs.find((x) => x.c === Math.min(...vs.map((y) => y.c)))!;
  // Shipped relative to the comparison: positive gain and negative dp50 favour the shipped engine.
  const gain = hi.m!.rps / hi.v!.rps - 1;
  const cpu = hi.v!.cpuUsPerReq !== null && hi.m!.cpuUsPerReq !== null ? hi.m!.cpuUsPerReq / hi.v!.cpuUsPerReq - 1 : NaN;
  const dp50 = lo.m!.p50 - lo.v!.p50;
  // 10%: below that, run-to-run noise on a shared 2-core VM can flip the order.
  const verdict =
    gain >= 0.1 && dp50 <= 0
      ? 'the shipped undici engine is measurably faster on both counts: keep it'
      : gain <= -0.1 && dp50 >= 0
        ? 'http-proxy-3 is measurably faster on both counts: reconsider the engine'
        : 'no clear winner beyond noise (10%): keep the shipped undici engine, the single product path';
  L.push(
    '',
    `At c=${hi.c} the shipped undici engine serves ${signed(gain * 100, 0)}% requests/s with ${signed(cpu * 100, 0)}% CPU per request ` +
      `relative to http-proxy-3; at c=${lo.c} its p50 differs by ${signed(dp50)} ms. Verdict of this run: ${verdict}.`,
    '',
  );
  return L;
}
