/**
 * The simulation behind `claude-meter simulate`: simulated requests go through the real
 * BudgetGate (admission, reservations, pacing buckets), MemoryBudgetStore, ForecastService
 * and pricer, wired by wireBudgets as the proxy wires them, on a simulated clock with no
 * upstream. Requests take no time: each admitted one settles at once with its real cost.
 * No sockets, no real timers, no wall clock.
 *
 * Requests run in arrival order; one that pacing holds (throttle `mode: delay`) waits on the
 * simulated clock inside the gate's own pacer, as in the proxy, while later ones arrive, and
 * is admitted (or refused, past `max_delay_ms`) when its timer fires.
 *
 * Simplifications (documented in docs/forecasting.md, Simulate):
 *  - requests before `from` are history: settled straight into the budget store (no
 *    admission), so the forecaster starts with what the proxy would have seen;
 *  - a window is "exhausted" at its first refusal by the limit itself (not by pacing),
 *    or when spend reaches the limit (shadow budgets, which never refuse).
 */
import type { Config } from '../config/types.ts';
import type { BudgetConfig, Cost } from '../budget/types.ts';
import type { Biller, Pricer } from '../pricing/types.ts';
import type { GateRequest } from '../budget/gate.ts';
import { MemoryBudgetStore } from '../budget/store/memory-budget-store.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { wireBudgets, type BudgetWiring } from '../compose/budgets.ts';
import { buildBiller } from '../pricing/billing.ts';
import { billedCost } from '../budget/cost.ts';
import { ExchangeRates } from '../core/currency.ts';
import { silentLogger } from '../lib/logger.ts';
import { emptyUsage, type Usage } from '../core/usage.ts';
import { HOUR_MS, MINUTE_MS } from '../core/time.ts';
import type { SimRequest } from './requests.ts';
import type { SimResult } from './types.ts';
import { SimTally } from './tally.ts';
import { ManualClock } from '../lib/manual-clock.ts';

export type { HourCounts, InstanceResult, Outcomes, Sample, SimResult, WindowStats } from './types.ts';

/** What the proxy would read from a request body: ~4 bytes of JSON per prompt token, a common max_tokens. */
const BYTES_PER_TOKEN = 4;
const MAX_TOKENS = 4096;

export interface SimOptions {
  config: Config;
  pricer: Pricer;
  requests: Iterable<SimRequest>;
  from: number;
  to: number;
  /** Called after each simulated hour's sample with the totals so far (the command's --speed and progress). */
  onHour?: (t: number, totals: Readonly<Pick<SimResult, 'requests' | 'admitted' | 'throttled' | 'refused'>>) => Promise<void> | void;
}

/** One simulated request as the gate sees it, with what it really costs. */
interface Priced {
  req: GateRequest;
  usage: Usage;
  actual: Cost;
  /** The list price, in USD (the record's costPicoUsd); `actual` is what the upstream bills. */
  listPicoUsd: number;
  resolvedModel: string | null;
  unpriced: boolean;
}

export async function simulate(opts: SimOptions): Promise<SimResult> {
  const { config, pricer, from, to } = opts;
  const upstream: SimUpstream = {
    name: config.upstream.name,
    biller: buildBiller(config.upstream.billing, pricer, config.source, 'upstream.billing'),
  };
  const clock = new ManualClock(from);
  const store = new MemoryBudgetStore();
  const meter = new MemoryStore({ clock, bucketTtlSeconds: config.store.bucket_ttl_days * 86_400, recordsMaxLen: 1_000 });
  const budgets = config.budgets;
  const rates = new ExchangeRates(config.exchange_rates);
  const tally = new SimTally(budgets, from, to);
  const wired = wireBudgets({
    budgets,
    forecast: () => config.forecast,
    store,
    meter,
    pricer: () => pricer,
    rates: () => rates,
    clock,
    logger: silentLogger,
    gateEvents: tally.gateEvents(clock),
    forecastEvents: tally.forecastEvents(),
  });
  const { catalog, forecasts } = wired;
  // Admitted requests' metering records are where spike detection finds the offending key and tag;
  // only offender pacing reads them, and a write costs more than the admission itself.
  const offenders = budgets.some((b) => b.spike.multiple !== null && b.spike.action === 'throttle_offender');

  // Periodic work stops short of `to`, where the final sample is taken.
  clock.every(config.forecast.update_interval_ms, from, (t) => (t < to ? forecasts.update(t) : undefined));
  clock.every(sampleInterval(wired, budgets, from), from, async (t) => {
    if (t >= to) return;
    await tally.sample(t, false, { catalog, ledger: store, forecasts });
    if (t % HOUR_MS === 0) await opts.onHour?.(t, tally.totals);
  });

  let n = 0;
  // Admissions not ended yet: only those pacing holds on the clock outlive the instant they arrive at.
  const held = new Set<Promise<void>>();
  const admit = async (r: SimRequest, p: Priced): Promise<void> => {
    const admitted = await live(wired, tally, p, r.ts, clock);
    if (admitted && offenders)
      await meter.write({
        id: p.req.id,
        ts: r.ts,
        method: 'POST',
        path: p.req.path,
        model: p.resolvedModel ?? r.model,
        keyId: r.keyId,
        tag: r.tag,
        status: 200,
        stream: false,
        usage: p.usage,
        usageMissing: null,
        partial: false,
        estimated: false,
        upstream: upstream.name,
        costPicoUsd: p.listPicoUsd,
        unpriced: p.unpriced,
        // Every simulated request goes to the default upstream, billed as its `billing` says.
        currency: upstream.biller.currency,
        billedPico: p.actual.money?.pico ?? 0,
        billedUnpriced: p.actual.money === null,
        usageAdjusted: null,
        free: false,
        latencyMs: 0,
        ttftMs: null,
        upstreamLatencyMs: null,
        errorType: null,
        messageId: null,
      });
  };
  for (const r of opts.requests) {
    if (r.ts >= to) break;
    const p = priced(r, `s${++n}`, pricer, upstream);
    if (r.ts < from) {
      await history(wired, store, tally, p, r.ts); // at its own time: nothing there reads the clock
      continue;
    }
    // Every advance starts with a turn of the event loop: an admission that is not held ends before time moves.
    await clock.advanceTo(r.ts);
    const a = admit(r, p);
    held.add(a);
    void a.finally(() => held.delete(a));
  }
  await clock.advanceTo(to);
  // Requests held across the end are let through (or refused) at their time, in the windows they arrived in.
  while (held.size > 0) if (!(await clock.next())) break;
  await Promise.all(held);
  await tally.sample(to, true, { catalog, ledger: store, forecasts });
  await forecasts.stop();
  return tally.result();
}

/** The upstream every simulated request goes to: the config's default, with its biller. */
interface SimUpstream {
  name: string;
  biller: Biller;
}

function priced(r: SimRequest, id: string, _pricer: Pricer, upstream: SimUpstream): Priced {
  const usage: Usage = { ...emptyUsage(), input: r.inputTokens, output: r.outputTokens };
  const biller = upstream.biller;
  const bill = biller.bill(r.model, usage, { at: r.ts, betas: [] });
  const actual = billedCost(bill, r.inputTokens + r.outputTokens);
  const req: GateRequest = {
    id,
    keyId: r.keyId,
    tag: r.tag,
    model: r.model,
    path: '/v1/messages',
    upstream: upstream.name,
    biller,
    bytes: BYTES_PER_TOKEN * r.inputTokens,
    maxTokens: MAX_TOKENS,
    betas: [],
  };
  return { req, usage, actual, listPicoUsd: bill.costPicoUsd, resolvedModel: bill.resolvedModel, unpriced: bill.unpriced };
}

/** History: what the proxy spent before the simulated days, settled without admission so forecasts are not cold. */
async function history(w: BudgetWiring, store: MemoryBudgetStore, tally: SimTally, p: Priced, now: number): Promise<void> {
  tally.totals.historyRequests++;
  const { refs, budgets } = w.catalog.refsFor(p.req, now);
  const amounts = w.gate.amountsFor(p.actual, refs);
  await store.settle(refs, p.req.id, amounts, now);
  tally.addDemand(refs, budgets, amounts, true); // a week or month the simulation reaches counts this spend too
  w.gate.observe(p.req.model, p.req.keyId, p.req.bytes, p.usage, p.req.maxTokens);
}

/**
 * A simulated request that arrived at `arrived`: admitted (at once, or after pacing held it in
 * delay mode) and settled at once (true), or throttled by pacing or refused by the limit.
 */
async function live(w: BudgetWiring, tally: SimTally, p: Priced, arrived: number, clock: ManualClock): Promise<boolean> {
  const out = tally.totals;
  out.requests++;
  const { refs, budgets } = w.catalog.refsFor(p.req, arrived);
  const amounts = w.gate.amountsFor(p.actual, refs);
  tally.addDemand(refs, budgets, amounts, false);
  // Pacing that holds back a request its budget had room for costs time: the tally judges it.
  const paced = tally.arriving(refs, budgets, amounts, arrived);
  const a = await w.gate.admit(p.req);
  const now = clock.now();
  if (a.kind === 'refused' && a.refusal.kind === 'paced') paced.by.add(a.budget.name);
  tally.pacedEnded(paced, now, a.kind !== 'refused');
  if (a.kind === 'refused') {
    const ref = refs[budgets.findIndex((b) => b.name === a.budget.name)];
    if (ref === undefined) throw new Error(`refused by '${a.budget.name}', which the request does not touch`);
    if (a.refusal.kind === 'paced') {
      out.throttled++;
      tally.throttled(a.budget, ref, now);
    } else {
      out.refused++;
      tally.refused(a.budget, ref, now);
    }
    return false;
  }
  if (a.kind === 'store_error' && !a.allow) throw new Error(`memory budget store failed: ${String(a.error)}`);
  if (a.kind === 'left') throw new Error('a simulated request cannot leave'); // it has no client, and settles before the next
  out.admitted++;
  if (a.kind === 'none') out.unbudgeted++;
  else {
    tally.admitted(a.refs, a.budgets, now);
    await w.gate.settle(a, p.req.id, p.actual);
  }
  w.gate.observe(p.req.model, p.req.keyId, p.req.bytes, p.usage, p.req.maxTokens);
  return true;
}

/** Chart points: hourly, finer when a budget's window is short (an hour window gets 6 points), at least every 5 minutes. */
function sampleInterval(w: BudgetWiring, budgets: readonly BudgetConfig[], from: number): number {
  const shortest = Math.min(
    6 * HOUR_MS,
    ...budgets.map((b) => {
      const win = w.catalog.instanceRef(b, '*', from).window;
      return win.rollingMs ?? win.end - win.start;
    }),
  );
  return Math.max(5 * MINUTE_MS, Math.floor(shortest / 6 / MINUTE_MS) * MINUTE_MS);
}
