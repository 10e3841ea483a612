/**
 * The simulation's bookkeeping: per budget instance, its windows (demand, spend, exhaustion,
 * outcomes), hourly outcome counts and chart samples; plus the run's totals. Fed by the
 * simulator's request loop and by the gate's and forecaster's events.
 */
import type { BudgetCatalog } from '../budget/catalog.ts';
import type { GateEvents } from '../budget/gate.ts';
import type { Amount, BudgetConfig, BudgetLedger, InstanceRef, InstanceState } from '../budget/types.ts';
import type { ForecastEvents, ForecastService } from '../forecast/service.ts';
import { budgetCurrency } from '../budget/catalog.ts';
import { picoToUnits } from '../core/money.ts';
import { hourStart, MINUTE_MS } from '../core/time.ts';
import type { Clock } from '../lib/clock.ts';
import type { HourCounts, InstanceResult, Outcomes, SimResult, WindowStats } from './types.ts';

interface Track {
  b: BudgetConfig;
  res: InstanceResult;
  windows: Map<string, WindowStats>;
  hours: Map<number, HourCounts>;
  /** Per window id: the minutes (their start) in which pacing held back a request the budget had room for. */
  heldMinutes: Map<string, Set<number>>;
}

/** A window that ran out more than this share of its length before its end ran out early (a day: 14 min 24 s). */
export const EARLY_SHARE = 0.01;

/** One request as it meets pacing: which budgets had room for it, and which paced it (delayed or refused). */
export interface PacedRequest {
  refs: readonly InstanceRef[];
  budgets: readonly BudgetConfig[];
  room: boolean[];
  arrived: number;
  /** Budgets that delayed it (the gate's onThrottled 'delayed') or refused it by pacing. */
  by: Set<string>;
  delayedBy: Set<string>;
}

/** What sampling reads: the current window of each instance, its state, and its forecast. */
export interface SampleSources {
  catalog: BudgetCatalog;
  ledger: Pick<BudgetLedger, 'state'>;
  forecasts: Pick<ForecastService, 'get'>;
}

export class SimTally {
  /** The run's totals so far (the command's progress line reads them each simulated hour). */
  readonly totals: SimResult;
  readonly #tracks = new Map<string, Track>();
  readonly #budgets: readonly BudgetConfig[];
  /**
   * The request whose admission runs now. The simulator starts one at a time and each runs to
   * its first wait before the next arrives, so a pacing delay the gate reports is this one's.
   */
  #current: PacedRequest | null = null;

  constructor(budgets: readonly BudgetConfig[], from: number, to: number) {
    this.#budgets = budgets;
    this.totals = { from, to, requests: 0, historyRequests: 0, admitted: 0, throttled: 0, refused: 0, unbudgeted: 0, instances: [] };
    for (const b of budgets) if (b.scope === 'global') this.#track(b, '*');
  }

  /** Spend as the gate reports it; a window is exhausted when spend reaches the limit (shadow budgets never refuse). */
  gateEvents(clock: Clock): GateEvents {
    return {
      onStates: (bs, refs, states) =>
        refs.forEach((ref, i) => {
          const b = bs[i];
          const st = states[i];
          if (b === undefined || st === undefined) return;
          const w = this.#window(b, ref);
          w.spent = value(b, st);
          if (w.exhaustedAt === null && w.spent >= w.limit) w.exhaustedAt = clock.now();
        }),
      onShadowRefused: (b, ref) => this.refused(b, ref, clock.now()),
      onThrottled: (b, _priority, outcome) => {
        if (outcome !== 'delayed' || this.#current === null) return;
        this.#current.by.add(b.name);
        this.#current.delayedBy.add(b.name);
      },
    };
  }

  /** A request about to meet the gate, with what it costs each budget (in its unit): whether each had room for it. */
  arriving(refs: readonly InstanceRef[], budgets: readonly BudgetConfig[], amounts: readonly Amount[], arrived: number): PacedRequest {
    const room = refs.map((ref, i) => {
      const b = budgets[i];
      const a = amounts[i];
      if (!b || !a) return false;
      const w = this.#window(b, ref);
      return w.spent + (spendBudget(b) ? picoToUnits(a.pico) : a.tokens) <= w.limit;
    });
    this.#current = { refs, budgets, room, arrived, by: new Set(), delayedBy: new Set() };
    return this.#current;
  }

  /** Its admission ended at `now` (`admitted` or not): pacing held it from arrival to now on the budgets that paced it. */
  pacedEnded(r: PacedRequest, now: number, admitted: boolean): void {
    if (this.#current === r) this.#current = null;
    r.budgets.forEach((b, i) => {
      const ref = r.refs[i];
      if (!ref || !r.by.has(b.name)) return;
      if (admitted && r.delayedBy.has(b.name)) {
        const w = this.#window(b, ref);
        w.delayed++;
        w.delayedMs += now - r.arrived;
      }
      if (!r.room[i]) return;
      const t = this.#track(b, ref.instance);
      let minutes = t.heldMinutes.get(ref.window.id);
      if (minutes === undefined) t.heldMinutes.set(ref.window.id, (minutes = new Set()));
      for (let m = r.arrived - (r.arrived % MINUTE_MS); m < Math.max(now, r.arrived + 1); m += MINUTE_MS) minutes.add(m);
    });
  }

  forecastEvents(): ForecastEvents {
    return {
      onSpike: (e) => {
        this.#track(e.budget, e.instance).res.spikes++;
      },
    };
  }

  /**
   * What every request would have cost each window it reached (actual[i] in ref i's currency),
   * admitted or not; history counts only in windows the run reaches.
   */
  addDemand(refs: readonly InstanceRef[], budgets: readonly BudgetConfig[], actual: readonly Amount[], history: boolean): void {
    refs.forEach((ref, i) => {
      const b = budgets[i];
      const a = actual[i];
      if (!b || !a || (history && ref.window.end <= this.totals.from)) return;
      const w = this.#window(b, ref);
      if (w.demand === null) return; // unknown stays unknown
      w.demand += spendBudget(b) ? picoToUnits(a.pico) : a.tokens;
    });
  }

  admitted(refs: readonly InstanceRef[], budgets: readonly BudgetConfig[], now: number): void {
    refs.forEach((ref, i) => {
      const b = budgets[i];
      if (!b) return;
      this.#window(b, ref).admitted++;
      this.#hour(b, ref.instance, now).admitted++;
    });
  }

  /** Refused by pacing. */
  throttled(b: BudgetConfig, ref: InstanceRef, now: number): void {
    this.#window(b, ref).throttled++;
    this.#hour(b, ref.instance, now).throttled++;
  }

  /** Refused by the limit (or, for shadow budgets, would have been): the window is exhausted from here. */
  refused(b: BudgetConfig, ref: InstanceRef, now: number): void {
    const w = this.#window(b, ref);
    w.refused++;
    w.exhaustedAt ??= now;
    this.#hour(b, ref.instance, now).refused++;
  }

  /** One chart point per instance at `t`; the last sample only closes the windows that ended at `t`. */
  async sample(t: number, last: boolean, src: SampleSources): Promise<void> {
    for (const tr of this.#tracks.values()) {
      const prev = src.catalog.instanceRef(tr.b, tr.res.instance, t - 1);
      const cur = src.catalog.instanceRef(tr.b, tr.res.instance, t);
      // A window that ended at t gets its closing point, so each window's line runs to its end.
      if (t > this.totals.from && prev.window.id !== cur.window.id) {
        const [before] = await src.ledger.state([prev], t);
        if (before) tr.res.samples.push({ t, windowId: prev.window.id, spent: value(tr.b, before), p10: null, p50: null, p90: null });
      }
      const [now] = last ? [undefined] : await src.ledger.state([cur], t);
      if (last || !now) continue;
      this.#window(tr.b, cur).spent = value(tr.b, now); // every window in the run gets a row, even one with no requests
      const f = tr.res.currency !== null ? src.forecasts.get(tr.b.name, tr.res.instance) : undefined;
      const live = f && f.ref.window.id === cur.window.id ? f.live : null;
      const units = (p: number | undefined) => (p === undefined ? null : picoToUnits(p));
      tr.res.samples.push({
        t,
        windowId: cur.window.id,
        spent: value(tr.b, now),
        p10: units(live?.p10),
        p50: units(live?.p50),
        p90: units(live?.p90),
      });
    }
  }

  /** The totals with every instance, in config order, then by instance value. */
  result(): SimResult {
    const order = new Map(this.#budgets.map((b, i) => [b.name, i]));
    const instances = [...this.#tracks.values()]
      .sort((x, y) => (order.get(x.b.name) ?? 0) - (order.get(y.b.name) ?? 0) || x.res.instance.localeCompare(y.res.instance))
      .map((t) => {
        const windows = [...t.windows.values()].sort((x, y) => x.start - y.start).map((w) => this.#outcomes(t, w));
        return { ...t.res, outcomes: summary(windows), windows, hours: [...t.hours.values()].sort((x, y) => x.t - y.t) };
      });
    return { ...this.totals, instances };
  }

  /** A window's outcomes, as it stands when the run ends. */
  #outcomes(t: Track, w: WindowStats): WindowStats {
    return {
      ...w,
      used: w.limit > 0 ? w.spent / w.limit : null,
      heldBackMs: (t.heldMinutes.get(w.id)?.size ?? 0) * MINUTE_MS,
      ranOutEarly: w.exhaustedAt !== null && w.end - w.exhaustedAt > EARLY_SHARE * (w.end - w.start),
    };
  }

  #track(b: BudgetConfig, instance: string): Track {
    const key = `${b.name}|${instance}`;
    let t = this.#tracks.get(key);
    if (t === undefined) {
      const currency = spendBudget(b) ? budgetCurrency(b) : null;
      const unit = currency === null ? 'tokens' : currency.toLowerCase();
      const limit = b.limit_usd ?? b.limit ?? b.limit_tokens ?? 0;
      const res: InstanceResult = {
        budget: b.name,
        instance,
        scope: b.scope,
        window: b.window,
        action: b.action,
        unit,
        currency,
        limit,
        spikes: 0,
        outcomes: summary([]),
        windows: [],
        samples: [],
        hours: [],
      };
      this.#tracks.set(key, (t = { b, res, windows: new Map(), hours: new Map(), heldMinutes: new Map() }));
    }
    return t;
  }

  #window(b: BudgetConfig, ref: InstanceRef): WindowStats {
    const t = this.#track(b, ref.instance);
    let w = t.windows.get(ref.window.id);
    if (w === undefined) {
      w = {
        id: ref.window.id,
        start: ref.window.start,
        end: ref.window.end,
        limit: t.res.limit,
        demand: 0,
        spent: 0,
        exhaustedAt: null,
        admitted: 0,
        throttled: 0,
        refused: 0,
        delayed: 0,
        delayedMs: 0,
        used: null,
        heldBackMs: 0,
        ranOutEarly: false,
      };
      t.windows.set(ref.window.id, w);
    }
    return w;
  }

  #hour(b: BudgetConfig, instance: string, now: number): HourCounts {
    const hours = this.#track(b, instance).hours;
    const h = hourStart(now);
    let c = hours.get(h);
    if (c === undefined) hours.set(h, (c = { t: h, admitted: 0, throttled: 0, refused: 0 }));
    return c;
  }
}

/** The run's outcomes of one instance, from its windows'. */
function summary(windows: readonly WindowStats[]): Outcomes {
  const used = windows.flatMap((w) => (w.used === null ? [] : [w.used]));
  return {
    windows: windows.length,
    used: used.length > 0 ? used.reduce((a, b) => a + b, 0) / used.length : null,
    heldBackMs: windows.reduce((a, w) => a + w.heldBackMs, 0),
    ranOutEarly: windows.filter((w) => w.ranOutEarly).length,
  };
}

/** A budget with a money limit (in USD or another currency), as opposed to a token-only one. */
function spendBudget(b: BudgetConfig): boolean {
  return b.limit_usd !== null || b.limit !== null;
}

/** Spend in the budget's unit: its currency, or tokens for token-only budgets. */
function value(b: BudgetConfig, st: InstanceState): number {
  return spendBudget(b) ? picoToUnits(st.spentPico) : st.spentTokens;
}
