/**
 * Bursts of concurrent SDK requests through several proxies sharing one Redis (or Cluster),
 * with what each proxy's ledger did recorded (admit and settle times, amounts), and the "fit
 * oracle": for every refused request, whether its real cost would have fitted the cap at the
 * moment it was refused, replaying the settles in time order.
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage, type Scenario } from '../helpers/mock-anthropic.ts';
import { startProxy, recordingLogger, type LogLine, type RunningProxy } from '../helpers/start-proxy.ts';
import { RedisBudgetStore } from '../../src/budget/store/redis-budget-store.ts';
import { createRedisClient, createRedisCluster } from '../../src/redis/client.ts';
import { buildPricer } from '../../src/pricing/build.ts';
import { DEFAULTS } from '../../src/config/defaults.ts';
import type { AdmitResult, Amount, BudgetConfig, InstanceRef, LeaseEntry, LeaseResult, SettleResult } from '../../src/budget/types.ts';
import { quantile } from '../../src/budget/estimate.ts';
import { emptyUsage } from '../../src/core/usage.ts';

/** A RedisBudgetStore that notes when each admission and settle completed, on the test's clock, and the amount on the first ref. */
class RecordingStore extends RedisBudgetStore {
  readonly admits: { t: number; id: string; admitted: boolean }[] = [];
  readonly settles: { t: number; id: string; pico: number }[] = [];
  override async admit(
    refs: readonly InstanceRef[],
    id: string,
    amounts: readonly Amount[],
    now: number,
    ttl: number,
  ): Promise<AdmitResult> {
    const r = await super.admit(refs, id, amounts, now, ttl);
    this.admits.push({ t: Date.now(), id, admitted: r.admitted });
    return r;
  }
  override async settle(refs: readonly InstanceRef[], id: string, actual: readonly Amount[], now: number): Promise<SettleResult> {
    const r = await super.settle(refs, id, actual, now);
    if (!r.duplicate) this.settles.push({ t: Date.now(), id, pico: actual[0]?.pico ?? 0 });
    return r;
  }
  /** Lease syncs: the spend a batch adds counts like settles (several requests' at once), and the syncs are counted. */
  readonly batches: { t: number; id: string; pico: number }[] = [];
  leaseSyncs = 0;
  override async lease(
    holder: string,
    batch: string,
    entries: readonly LeaseEntry[],
    share: number,
    now: number,
    ttl: { ttlMs: number; heldTtlMs: number },
  ): Promise<LeaseResult> {
    const r = await super.lease(holder, batch, entries, share, now, ttl);
    this.leaseSyncs++;
    const pico = entries[0]?.spent.pico ?? 0;
    if (!r.duplicate && pico > 0) this.batches.push({ t: Date.now(), id: batch, pico });
    return r;
  }
}

export interface BurstRequest {
  usage: MockUsage;
  stream: boolean;
  maxTokens: number;
  prompt: string;
  /** Client leaves after this many ms (an AbortSignal on the SDK call). */
  abortAfterMs?: number;
}

export interface Outcome {
  i: number;
  admitted: boolean;
  /** x-meter-budget-refusal of a 429; 'aborted' when the client left; or the error's class. */
  cause: string | null;
  /** When the answer arrived (ms, Date.now). */
  t: number;
  costPico: number;
}

export interface BurstRun {
  proxies: RunningProxy[];
  logs: LogLine[][];
  stores: RecordingStore[];
  outcomes: Outcome[];
  capPico: number;
}

export const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });

export function costPico(model: string, u: MockUsage): number {
  return pricer.price(model, { ...emptyUsage(), input: u.input_tokens, output: u.output_tokens }, { at: Date.now(), betas: [] })
    .costPicoUsd;
}

export async function runBurst(
  t: TestContext,
  opts: {
    redis: { url: string } | { nodes: string[] };
    proxies: number;
    budget: BudgetConfig;
    model: string;
    requests: BurstRequest[];
    /** Mock upstream pacing: bytes per chunk and ms between chunks. */
    chunkSize?: number;
    delayMs?: number;
    /** Runs while the requests are in flight (e.g. stop Redis). */
    during?: (run: BurstRun) => Promise<void>;
    /** Sustained traffic: this many clients, each sending the next request when its last answered (default: all at once). */
    concurrency?: number;
  },
): Promise<BurstRun> {
  const up = await startMockAnthropic(t);
  up.setScenario((req): Scenario => {
    const i = Number((JSON.parse(req.body.toString()) as { metadata: { user_id: string } }).metadata.user_id);
    const r = opts.requests[i] as BurstRequest;
    return {
      kind: 'message',
      usage: r.usage,
      text: 'a b c d e f g h i j k l',
      chunkSize: opts.chunkSize ?? 32,
      delayMs: opts.delayMs ?? 4,
    };
  });
  const redisConfig = 'url' in opts.redis ? { url: opts.redis.url, cluster_nodes: [] } : { url: null, cluster_nodes: opts.redis.nodes };
  const run: BurstRun = { proxies: [], logs: [], stores: [], outcomes: [], capPico: Math.round((opts.budget.limit_usd ?? 0) * 1e12) };
  for (let p = 0; p < opts.proxies; p++) {
    const logger = recordingLogger();
    const client =
      'url' in opts.redis
        ? createRedisClient(opts.redis.url)
        : createRedisCluster(opts.redis.nodes.map((n) => ({ host: n.split(':')[0] ?? '', port: Number(n.split(':')[1]) })));
    const store = new RecordingStore(client, { prefix: 'burst' });
    run.logs.push(logger.lines);
    run.stores.push(store);
    run.proxies.push(
      await startProxy(t, {
        upstream: up.url,
        logger,
        budgetStore: store,
        config: { store: { redis: { ...redisConfig, key_prefix: 'burst' } }, budgets: [opts.budget] },
      }),
    );
  }
  const during = opts.during?.(run);
  if (opts.concurrency === undefined) await Promise.all(opts.requests.map((r, i) => one(run, opts.model, r, i)));
  else {
    let next = 0;
    const client = async (): Promise<void> => {
      while (next < opts.requests.length) {
        const i = next++;
        await one(run, opts.model, opts.requests[i] as BurstRequest, i);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, client));
  }
  await during;
  for (const p of run.proxies) await p.app.flush();
  return run;
}

async function one(run: BurstRun, model: string, r: BurstRequest, i: number): Promise<void> {
  const proxy = run.proxies[i % run.proxies.length] as RunningProxy;
  const c = new Anthropic({ apiKey: 'sk-burst', baseURL: proxy.url, maxRetries: 0 });
  const params = {
    model,
    max_tokens: r.maxTokens,
    metadata: { user_id: String(i) },
    messages: [{ role: 'user' as const, content: r.prompt }],
  };
  const signal = r.abortAfterMs === undefined ? undefined : AbortSignal.timeout(r.abortAfterMs);
  const cost = costPico(model, r.usage);
  try {
    if (r.stream) await c.messages.stream(params, signal ? { signal } : {}).finalMessage();
    else await c.messages.create(params, signal ? { signal } : {});
    run.outcomes.push({ i, admitted: true, cause: null, t: Date.now(), costPico: cost });
  } catch (e) {
    const cause =
      e instanceof Anthropic.RateLimitError
        ? (e.headers?.get('x-meter-budget-refusal') ?? 'unknown')
        : e instanceof Anthropic.APIUserAbortError || (e instanceof Error && e.name === 'AbortError')
          ? 'aborted'
          : e instanceof Anthropic.APIError
            ? `status_${e.status}`
            : String(e);
    run.outcomes.push({ i, admitted: false, cause, t: Date.now(), costPico: cost });
  }
}

/**
 * Refusals whose real cost fitted the cap when they were refused: settled spend at that moment
 * (every proxy's settles, in time order) + the request's own cost ≤ cap. Optimistic about the
 * cap (requests still in flight then are not counted), so it flags every avoidable refusal.
 */
export function fitOracle(run: BurstRun): Outcome[] {
  const settles = run.stores.flatMap((s) => [...s.settles, ...s.batches]).sort((a, b) => a.t - b.t);
  return run.outcomes.filter((o) => {
    // Only the budget's own refusals (429s); a 503 of a fail-closed budget store is another matter.
    if (o.admitted || o.cause === 'aborted' || o.cause?.startsWith('status_') === true) return false;
    let spent = 0;
    for (const s of settles) if (s.t <= o.t) spent += s.pico;
    return spent + o.costPico <= run.capPico;
  });
}

export interface Summary {
  admitted: number;
  /** Admitted by the ledger's per-request script (the rest: from leases, or on a store error). */
  exact: number;
  leaseSyncs: number;
  refused: Record<string, number>;
  spentPico: number;
  largestPico: number;
  wouldHaveFit: Outcome[];
  /** actual ÷ reserved of admitted requests: before the proxy had settled 5 of this key and model, and after. */
  ratios: { cold: number[]; warm: number[] };
  /** The documented overshoot bound: Σ over admitted requests of max(0, actual − reserved), USD. */
  boundUsd: number;
}

export function summarize(run: BurstRun): Summary {
  const refused = byCause(run.outcomes.filter((o) => !o.admitted));
  const ratios = { cold: [] as number[], warm: [] as number[] };
  let boundUsd = 0;
  run.stores.forEach((store, p) => {
    const reserved = new Map<string, { cost: number; reserved: number }>();
    for (const l of run.logs[p] ?? []) {
      if (l.msg !== 'request' || l.obj['reserved_usd'] === undefined || l.obj['reserved_usd'] === null) continue;
      reserved.set(String(l.obj['id']), { cost: Number(l.obj['cost_usd']), reserved: Number(l.obj['reserved_usd']) });
      boundUsd += Math.max(0, Number(l.obj['cost_usd']) - Number(l.obj['reserved_usd']));
    }
    for (const a of store.admits) {
      const r = reserved.get(a.id);
      if (!a.admitted || r === undefined || r.reserved <= 0 || r.cost <= 0) continue;
      const before = store.settles.filter((s) => s.t < a.t).length;
      (before < 5 ? ratios.cold : ratios.warm).push(r.cost / r.reserved);
    }
  });
  const settled = run.stores.flatMap((s) => s.settles);
  const batched = run.stores.flatMap((s) => s.batches);
  const admitted = run.outcomes.filter((o) => o.admitted).length;
  const exact = run.stores.reduce((n, s) => n + s.admits.filter((a) => a.admitted).length, 0);
  return {
    admitted,
    exact,
    leaseSyncs: run.stores.reduce((n, s) => n + s.leaseSyncs, 0),
    refused,
    spentPico: [...settled, ...batched].reduce((a, s) => a + s.pico, 0),
    largestPico: Math.max(0, ...settled.map((s) => s.pico)),
    wouldHaveFit: fitOracle(run),
    ratios,
    boundUsd,
  };
}

const q = (v: number[], p: number): string => (v.length === 0 ? '–' : quantile(v, p).toFixed(2));

/** One line for the figures of docs/budgets.md. */
export function report(label: string, run: BurstRun, s: Summary): string {
  const pct = ((s.spentPico / run.capPico) * 100).toFixed(1);
  const ratio = (v: number[]) => `n=${v.length} p10 ${q(v, 0.1)} p50 ${q(v, 0.5)} p90 ${q(v, 0.9)}`;
  const line =
    `admission figure | ${label}: ${run.outcomes.length} requests, admitted ${s.admitted} (${s.exact} by the exact script, ${s.leaseSyncs} lease syncs), refused ${JSON.stringify(s.refused)}, ` +
    `spent $${(s.spentPico / 1e12).toFixed(4)} of $${(run.capPico / 1e12).toFixed(4)} (${pct}%), largest $${(s.largestPico / 1e12).toFixed(4)}, ` +
    `bound $${s.boundUsd.toFixed(4)}, would have fit: ${s.wouldHaveFit.length} ${JSON.stringify(byCause(s.wouldHaveFit))}; ` +
    `reservation ratio cold ${ratio(s.ratios.cold)}, warm ${ratio(s.ratios.warm)}`;
  console.log(line);
  return line;
}

function byCause(os: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of os) out[o.cause ?? 'unknown'] = (out[o.cause ?? 'unknown'] ?? 0) + 1;
  return out;
}

/** The burst goals: spend within [share × cap, cap + the largest request], no avoidable in-flight refusal. */
export function assertGoals(run: BurstRun, s: Summary, minShare: number): void {
  assert.ok(s.spentPico >= minShare * run.capPico, `spent ${s.spentPico / 1e12} < ${minShare} of the cap`);
  assert.ok(s.spentPico <= run.capPico + s.largestPico, `spent ${s.spentPico / 1e12} > cap + largest request`);
  const inflight = s.wouldHaveFit.filter((o) => o.cause === 'in_flight');
  assert.equal(inflight.length, 0, `in_flight refusals that would have fit: ${JSON.stringify(inflight)}`);
}

/** ~1,600 bytes, ~400 tokens: the prompt of the burst and mixed tests. */
export const BURST_PROMPT = 'lorem ipsum dolor sit amet '.repeat(60);

/** The burst tests' request: $0.004005 each at sonnet's $3/$15 per MTok (400 in, 187 out). */
export function burstRequest(i: number): BurstRequest {
  return { usage: { input_tokens: 400, output_tokens: 187 }, stream: i % 2 === 0, maxTokens: 1024, prompt: BURST_PROMPT };
}

/** The mixed tests' requests: every 5th large ($0.0165: 1,000 out), the rest small ($0.0024: 80 out). */
export function mixedRequests(n: number): BurstRequest[] {
  return Array.from({ length: n }, (_, i): BurstRequest => {
    const large = i % 5 === 0;
    return {
      usage: { input_tokens: 400, output_tokens: large ? 1000 : 80 },
      stream: i % 2 === 1,
      maxTokens: large ? 4096 : 256,
      prompt: BURST_PROMPT,
    };
  });
}
