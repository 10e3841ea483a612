/**
 * The simulation behind `claude-meter simulate`: simulated requests go through the real
 * BudgetGate (admission, reservations, pacing buckets), MemoryBudgetStore, ForecastService
 * and pricer, on a simulated clock with no upstream. Requests take no time: each admitted
 * one settles at once with its real cost. No sockets, no timers, no wall clock.
 *
 * Simplifications (documented in README, Simulate):
 *  - throttle `mode: delay` is simulated as `reject`: the gate would sleep in real time;
 *  - requests before `from` are history: settled straight into the budget store (no
 *    admission), so the forecaster starts with what the proxy would have seen;
 *  - a window is "exhausted" at its first refusal by the limit itself (not by pacing),
 *    or when spend reaches the limit (shadow budgets, which never refuse).
 */
import type { Config } from '../config/types.ts';
import type { Clock } from '../lib/clock.ts';
import type { Amount, BudgetConfig, InstanceRef, InstanceState } from '../budget/types.ts';
import type { Pricer } from '../pricing/types.ts';
import { BudgetGate, type GateRequest } from '../budget/gate.ts';
import { MemoryBudgetStore } from '../budget/memory-budget-store.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { ForecastService } from '../forecast/service.ts';
import { silentLogger } from '../lib/logger.ts';
import { emptyUsage, type Usage } from '../core/usage.ts';
import type { SimRequest } from './requests.ts';
import type { HourCounts, InstanceResult, SimResult, WindowStats } from './types.ts';

export type { HourCounts, InstanceResult, Sample, SimResult, WindowStats } from './types.ts';

const HOUR = 3_600_000;
/** What the proxy would read from a request body: ~4 bytes of JSON per prompt token, a common max_tokens. */
const BYTES_PER_TOKEN = 4;
const MAX_TOKENS = 4096;
/** Marks a pacing refusal (policy.ts pacedDenial) as opposed to a refusal by the limit. */
const PACED_HEADER = 'x-meter-budget-paced-usd-per-hour';

export interface SimOptions {
  config: Config;
  pricer: Pricer;
  requests: Iterable<SimRequest>;
  from: number;
  to: number;
  /** Called after each simulated hour's sample with the totals so far (the command's --speed and progress). */
  onHour?: (t: number, totals: Readonly<Pick<SimResult, 'requests' | 'admitted' | 'throttled' | 'rejected'>>) => Promise<void> | void;
}

class SimClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
}

interface Track {
  b: BudgetConfig;
  res: InstanceResult;
  windows: Map<string, WindowStats>;
  hours: Map<number, HourCounts>;
}

export async function simulate(opts: SimOptions): Promise<SimResult> {
  const { config, pricer, from, to } = opts;
  const clock = new SimClock();
  clock.t = from;
  const store = new MemoryBudgetStore();
  const meter = new MemoryStore({ clock, bucketTtlSeconds: config.store.bucket_ttl_days * 86_400, recordsMaxLen: 1_000 });
  // Delay mode would sleep in wall time inside the gate: simulate it as reject.
  const budgets = config.budgets.map((b) => (b.action === 'throttle' && b.throttle.mode === 'delay' ? { ...b, throttle: { ...b.throttle, mode: 'reject' as const } } : b));
  const tracks = new Map<string, Track>();
  const track = (b: BudgetConfig, instance: string): Track => {
    const key = `${b.name}|${instance}`;
    let t = tracks.get(key);
    if (t === undefined) {
      const unit = b.limit_usd !== null ? 'usd' : 'tokens';
      const limit = b.limit_usd ?? b.limit_tokens ?? 0;
      const res: InstanceResult = { budget: b.name, instance, scope: b.scope, window: b.window, action: b.action, unit, limit, spikes: 0, windows: [], samples: [], hours: [] };
      tracks.set(key, (t = { b, res, windows: new Map(), hours: new Map() }));
    }
    return t;
  };
  const windowOf = (b: BudgetConfig, ref: InstanceRef): WindowStats => {
    const t = track(b, ref.instance);
    let w = t.windows.get(ref.window.id);
    if (w === undefined) {
      w = { id: ref.window.id, start: ref.window.start, end: ref.window.end, limit: t.res.limit, demand: 0, spent: 0, exhaustedAt: null, admitted: 0, throttled: 0, rejected: 0 };
      t.windows.set(ref.window.id, w);
    }
    return w;
  };
  const hourOf = (b: BudgetConfig, instance: string, now: number): HourCounts => {
    const hours = track(b, instance).hours;
    const h = now - (now % HOUR);
    let c = hours.get(h);
    if (c === undefined) hours.set(h, (c = { t: h, admitted: 0, throttled: 0, rejected: 0 }));
    return c;
  };
  const value = (b: BudgetConfig, st: InstanceState): number => (b.limit_usd !== null ? st.spentPico / 1e12 : st.spentTokens);
  const addDemand = (refs: readonly InstanceRef[], bs: readonly BudgetConfig[], actual: Amount, history: boolean): void =>
    refs.forEach((ref, i) => {
      const b = bs[i];
      if (b && (!history || ref.window.end > from)) windowOf(b, ref).demand += b.limit_usd !== null ? actual.pico / 1e12 : actual.tokens;
    });
  const refused = (b: BudgetConfig, ref: InstanceRef, now: number): void => {
    const w = windowOf(b, ref);
    w.rejected++;
    w.exhaustedAt ??= now;
    hourOf(b, ref.instance, now).rejected++;
  };

  const gate = new BudgetGate({
    store,
    pricer: () => pricer,
    clock,
    logger: silentLogger,
    budgets,
    events: {
      onStates: (bs, refs, states) =>
        refs.forEach((ref, i) => {
          const b = bs[i];
          const st = states[i];
          if (b === undefined || st === undefined) return;
          const w = windowOf(b, ref);
          w.spent = value(b, st);
          if (w.exhaustedAt === null && w.spent >= w.limit) w.exhaustedAt = clock.now();
        }),
      onShadowDenied: (b, ref) => refused(b, ref, clock.now()),
    },
  });
  const svc = new ForecastService({
    gate,
    store,
    meter,
    clock,
    logger: silentLogger,
    config: () => config.forecast,
    events: {
      onSpike: (e) => {
        track(e.budget, e.instance).res.spikes++;
      },
    },
  });
  // Exactly as src/app.ts wires it.
  gate.setPacing({
    rate: (budget, instance) => svc.get(budget, instance)?.pacedRate ?? null,
    offenderRate: (budget, instance, keyId, tag, now) => svc.offenderRate(budget, instance, keyId, tag, now),
  });
  for (const b of budgets) if (b.scope === 'global') track(b, '*');
  const offenders = budgets.some((b) => b.spike.multiple !== null && b.spike.action === 'throttle_offender');

  const sample = async (t: number, last: boolean): Promise<void> => {
    for (const tr of tracks.values()) {
      const prev = gate.instanceRef(tr.b, tr.res.instance, t - 1);
      const cur = gate.instanceRef(tr.b, tr.res.instance, t);
      // A window that ended at t gets its closing point, so each window's line runs to its end.
      if (t > from && prev.window.id !== cur.window.id) {
        const [before] = await store.state([prev], t);
        if (before) tr.res.samples.push({ t, windowId: prev.window.id, spent: value(tr.b, before), p10: null, p50: null, p90: null });
      }
      const [now] = last ? [undefined] : await store.state([cur], t);
      if (last || !now) continue;
      windowOf(tr.b, cur).spent = value(tr.b, now); // every window in the run gets a row, even one with no requests
      const f = tr.res.unit === 'usd' ? svc.get(tr.b.name, tr.res.instance) : undefined;
      const live = f && f.ref.window.id === cur.window.id ? f.live : null;
      const usd = (p: number | undefined) => (p === undefined ? null : p / 1e12);
      tr.res.samples.push({ t, windowId: cur.window.id, spent: value(tr.b, now), p10: usd(live?.p10), p50: usd(live?.p50), p90: usd(live?.p90) });
    }
  };

  const out: SimResult = { from, to, requests: 0, historyRequests: 0, admitted: 0, throttled: 0, rejected: 0, unbudgeted: 0, instances: [] };
  // Timers of the simulated clock: forecast updates and hourly samples, in time order.
  const interval = config.forecast.update_interval_ms;
  let nextUpdate = from;
  let nextSample = from;
  // Hourly chart points, finer when a budget's window is short (an hour window gets 6 points).
  const shortest = Math.min(HOUR * 6, ...budgets.map((b) => {
    const w = gate.instanceRef(b, '*', from).window;
    return w.rollingMs ?? w.end - w.start;
  }));
  const sampleMs = Math.max(5 * 60_000, Math.floor(shortest / 6 / 60_000) * 60_000);
  const advanceTo = async (t: number): Promise<void> => {
    for (let next = Math.min(nextUpdate, nextSample); next <= t && next < to; next = Math.min(nextUpdate, nextSample)) {
      clock.t = next;
      if (nextUpdate === next) {
        await svc.update(next);
        nextUpdate += interval;
      }
      if (nextSample === next) {
        await sample(next, false);
        nextSample += sampleMs;
        if (next % HOUR === 0) await opts.onHour?.(next, out);
      }
    }
  };

  let n = 0;
  for (const r of opts.requests) {
    if (r.ts >= to) break;
    const id = `s${++n}`;
    const usage: Usage = { ...emptyUsage(), input: r.inputTokens, output: r.outputTokens };
    const price = pricer.price(r.model, usage, { at: r.ts, betas: [] });
    const actual = { pico: price.unpriced ? 0 : price.costPicoUsd, tokens: r.inputTokens + r.outputTokens };
    const req: GateRequest = { id, keyId: r.keyId, tag: r.tag, model: r.model, path: '/v1/messages', bytes: BYTES_PER_TOKEN * r.inputTokens, maxTokens: MAX_TOKENS, betas: [] };
    if (r.ts < from) {
      // History: what the proxy spent before the simulated days, so forecasts are not cold.
      clock.t = r.ts;
      out.historyRequests++;
      const { refs, budgets: bs } = gate.refsFor(req, r.ts);
      await store.settle(refs, id, actual, r.ts);
      addDemand(refs, bs, actual, true); // a week or month the simulation reaches counts this spend too
      gate.observe(r.model, r.keyId, req.bytes, usage);
      continue;
    }
    await advanceTo(r.ts);
    clock.t = r.ts;
    out.requests++;
    const { refs, budgets: bs } = gate.refsFor(req, r.ts);
    addDemand(refs, bs, actual, false);
    const a = await gate.admit(req);
    if (a.kind === 'denied') {
      const i = bs.findIndex((b) => b.name === a.budget.name);
      const ref = refs[i];
      if (ref === undefined) throw new Error(`denied by '${a.budget.name}', which the request does not touch`);
      if (PACED_HEADER in a.denial.headers) {
        out.throttled++;
        windowOf(a.budget, ref).throttled++;
        hourOf(a.budget, ref.instance, r.ts).throttled++;
      } else {
        out.rejected++;
        refused(a.budget, ref, r.ts);
      }
      continue;
    }
    if (a.kind === 'store_error' && !a.allow) throw new Error(`memory budget store failed: ${String(a.error)}`);
    out.admitted++;
    if (a.kind === 'none') out.unbudgeted++;
    else {
      a.refs.forEach((ref, i) => {
        const b = a.budgets[i];
        if (!b) return;
        windowOf(b, ref).admitted++;
        hourOf(b, ref.instance, r.ts).admitted++;
      });
      await gate.settle(a, id, actual);
    }
    gate.observe(r.model, r.keyId, req.bytes, usage);
    // The metering record: spike detection finds the offending key and tag in it. Only pacing
    // of offenders changes the outcome, and a write costs more than the admission itself.
    if (offenders) await meter.write({
      id, ts: r.ts, method: 'POST', path: req.path, model: price.resolvedModel ?? r.model, keyId: r.keyId, tag: r.tag, status: 200, stream: false,
      usage, usageMissing: null, partial: false, costPicoUsd: actual.pico, unpriced: price.unpriced, free: false,
      latencyMs: 0, ttftMs: null, upstreamLatencyMs: null, errorType: null, messageId: null,
    });
  }
  await advanceTo(to);
  clock.t = to;
  await sample(to, true);
  await svc.stop();

  const order = new Map(budgets.map((b, i) => [b.name, i]));
  out.instances = [...tracks.values()]
    .sort((x, y) => (order.get(x.b.name) ?? 0) - (order.get(y.b.name) ?? 0) || x.res.instance.localeCompare(y.res.instance))
    .map((t) => ({ ...t.res, windows: [...t.windows.values()].sort((x, y) => x.start - y.start), hours: [...t.hours.values()].sort((x, y) => x.t - y.t) }));
  return out;
}
