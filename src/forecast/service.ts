import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { OutageLog } from '../lib/outage-log.ts';
import type { Config } from '../config/types.ts';
import type { BudgetConfig, BudgetLedger, ForecastStore, InstanceRef } from '../budget/types.ts';
import { budgetCurrency, type BudgetCatalog } from '../budget/catalog.ts';
import type { PacingSource } from '../budget/pacing/pacer.ts';
import { zoneOffsetMs } from '../budget/windows.ts';
import type { MeterStore } from '../store/types.ts';
import { picoToUnits, USD } from '../core/money.ts';
import { DAY_MS, HOUR_MS, hourStart, MINUTE_MS } from '../core/time.ts';
import { fitForecaster } from './model.ts';
import { makeSeries } from './series.ts';
import { buildPath, project, type ForecastPath, type LiveProjection } from './path.ts';
import { pacedRate } from '../budget/pacing/rate.ts';

/**
 * Whether an instance has a projection: `computed`, or `no_spend_yet` (nothing spent in the
 * window and no history: nothing to project from, so no projection rather than a zero one).
 * Reports add `no_update_yet` for an instance no update has reached (forecastStatus).
 */
export type ForecastStatus = 'computed' | 'no_spend_yet';

interface ForecastBase {
  budget: BudgetConfig;
  ref: InstanceRef;
  /** Spend and reservations at the update. */
  spentPico: number;
  reservedPico: number;
  updatedAt: number;
}

export type InstanceForecast = ForecastBase &
  (
    | {
        status: 'computed';
        path: ForecastPath;
        /** Projected from spent + reserved: p10 ≥ spent + reserved. */
        live: LiveProjection;
        /** Pico-units of the budget's currency per ms for throttle budgets while the projection exceeds the limit; null otherwise. */
        pacedRate: number | null;
      }
    /** Not computed: no projection, no pacing, no projection metrics. */
    | { status: 'no_spend_yet'; path: null; live: null; pacedRate: null }
  );

export interface SpikeEvent {
  budget: BudgetConfig;
  instance: string;
  ratePerHourPico: number;
  expectedPerHourPico: number;
  offender: { keyId?: string; tag?: string };
  at: number;
}

/** An offender as logs and alerts name it (`key_id`, `tag`). */
export function offenderJson(o: SpikeEvent['offender']): { key_id?: string; tag?: string } {
  return { ...(o.keyId !== undefined ? { key_id: o.keyId } : {}), ...(o.tag !== undefined ? { tag: o.tag } : {}) };
}

export interface ForecastEvents {
  onForecast?(f: InstanceForecast): void;
  onSpike?(e: SpikeEvent): void;
  onWindowClosed?(budget: BudgetConfig, instance: string, apePercent: number): void;
}

/**
 * What the forecast loop knows, as plain data: the latest forecast of every instance (the
 * budget by name) and the offenders being paced. A process that does not run the loop (a
 * worker but the first, workers/) adopts it, so it paces and reports the same.
 */
export interface ForecastShare {
  forecasts: SharedForecast[];
  offenders: Array<[key: string, offender: { until: number; ratePerMs: number }]>;
}

/** A forecast as plain data: its budget by name (each kind of InstanceForecast kept apart). */
type SharedForecast = InstanceForecast extends infer F ? (F extends unknown ? Omit<F, 'budget'> & { budget: string } : never) : never;

/** A spike's rates for its log line, in the budget's currency; the `_usd` names only when that is USD. */
function spikeAmounts(currency: string, rate: number, expected: number): Record<string, string | number> {
  const [r, e] = [picoToUnits(rate), picoToUnits(expected)];
  const usd = currency === USD ? { rate_usd_per_hour: r, expected_usd_per_hour: e } : {};
  return { currency, rate_per_hour: r, expected_per_hour: e, ...usd };
}

/** Spikes are judged against at least this share of the limit per hour, so a near-zero forecast does not alarm on pennies. */
const SPIKE_FLOOR_SHARE_PER_HOUR = 0.01;
/** An offender found in a spike is paced for this long (then judged again). */
const OFFENDER_TTL_MS = 15 * MINUTE_MS;

/**
 * Runs the forecaster for every budget instance: refit on a schedule (one proxy per
 * instance at a time, via a lock in the forecast store; the others read the published path),
 * re-project between refits with the spend seen since, decide pacing rates, detect spikes,
 * and score past projections when a window closes. The gate reads its pacing rates from here.
 */
export class ForecastService implements PacingSource {
  readonly #catalog: BudgetCatalog;
  readonly #ledger: Pick<BudgetLedger, 'state' | 'instances'>;
  readonly #store: ForecastStore;
  readonly #meter: Pick<MeterStore, 'query'>;
  /** Update failures (the budget store unreachable, mostly), logged per outage rather than per pass and budget. */
  readonly #failures: OutageLog;
  readonly #clock: Timers;
  readonly #logger: Logger;
  readonly #cfg: () => Config['forecast'];
  readonly #events: ForecastEvents;
  readonly #latest = new Map<string, InstanceForecast>();
  readonly #offenders = new Map<string, { until: number; ratePerMs: number }>();
  /** p50 projections taken at a quarter, half and three quarters of each window, scored at its close. */
  readonly #checkpoints = new Map<string, { windowId: string; windowEnd: number; ref: InstanceRef; p50s: number[] }>();
  #timer: TimerHandle | null = null;
  #running: Promise<void> | null = null;
  readonly #passListeners: Array<() => void> = [];

  constructor(opts: {
    catalog: BudgetCatalog;
    /** Budget state of each instance (spent, reserved) and the per_* instance listings. */
    ledger: Pick<BudgetLedger, 'state' | 'instances'>;
    store: ForecastStore;
    /** The metering store: who spent most during a spike. */
    meter: Pick<MeterStore, 'query'>;
    /** Also what the update loop waits on. */
    clock: Timers;
    logger: Logger;
    /** A getter: the forecast config can be reloaded. */
    config: () => Config['forecast'];
    events?: ForecastEvents;
  }) {
    this.#catalog = opts.catalog;
    this.#ledger = opts.ledger;
    this.#store = opts.store;
    this.#meter = opts.meter;
    this.#failures = new OutageLog({
      logger: opts.logger,
      clock: opts.clock,
      messages: {
        down: 'forecast update failed; keeping the previous projection',
        still: 'forecast updates still failing; keeping the previous projections',
        up: 'forecast updates succeed again',
      },
    });
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#cfg = opts.config;
    this.#events = opts.events ?? {};
  }

  start(): void {
    const tick = () => {
      void this.update(this.#clock.now());
      this.#timer = this.#clock.setTimeout(tick, this.#cfg().update_interval_ms).unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** Latest forecast of one instance (sync: the admission path reads it). */
  get(budget: string, instance: string): InstanceForecast | undefined {
    return this.#latest.get(`${budget}|${instance}`);
  }

  /** Pacing rate of a throttle budget instance while its projection exceeds the limit, else null. */
  rate(budget: string, instance: string): number | null {
    return this.get(budget, instance)?.pacedRate ?? null;
  }

  all(): InstanceForecast[] {
    return [...this.#latest.values()];
  }

  /**
   * Global budget instances that get a forecast but have none yet (no update has reached them
   * since this process started): reports list them as not computed rather than leave them out.
   */
  awaiting(now: number): Array<{ budget: BudgetConfig; ref: InstanceRef }> {
    const out: Array<{ budget: BudgetConfig; ref: InstanceRef }> = [];
    for (const b of this.#catalog.budgets) {
      if (b.scope !== 'global' || this.#latest.has(`${b.name}|*`)) continue;
      const ref = this.#catalog.instanceRef(b, '*', now);
      if (forecastable(b, ref)) out.push({ budget: b, ref });
    }
    return out;
  }

  /** Pacing rate for a key or tag caught in a spike on this budget instance, if still in force. */
  offenderRate(budget: string, instance: string, keyId: string, tag: string, now: number): { bucket: string; ratePerMs: number } | null {
    for (const who of [`key:${keyId}`, `tag:${tag}`]) {
      const k = `${budget}|${instance}|${who}`;
      const o = this.#offenders.get(k);
      if (o && o.until > now) return { bucket: k, ratePerMs: o.ratePerMs };
      if (o) this.#offenders.delete(k);
    }
    return null;
  }

  /** Called after every pass of the loop (the worker that runs it shares the result). */
  onPass(listener: () => void): void {
    this.#passListeners.push(listener);
  }

  share(): ForecastShare {
    return {
      forecasts: [...this.#latest.values()].map((f) => ({ ...f, budget: f.budget.name })),
      offenders: [...this.#offenders],
    };
  }

  /**
   * Replaces what this process knows with what the loop found elsewhere. Forecasts of a budget
   * this process's config no longer names are left out; the projection gauges stay the loop's
   * (no onForecast event here, so they are not exported twice).
   */
  adopt(s: ForecastShare): void {
    this.#latest.clear();
    for (const f of s.forecasts) {
      const budget = this.#catalog.find(f.budget);
      if (budget) this.#latest.set(`${budget.name}|${f.ref.instance}`, { ...f, budget });
    }
    this.#offenders.clear();
    for (const [k, o] of s.offenders) this.#offenders.set(k, o);
  }

  /** One pass over every budget instance. Serialised: a slow pass is never overlapped by the next. */
  update(now: number): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = this.#pass(now).finally(() => {
      this.#running = null;
      for (const l of this.#passListeners) l();
    });
    return this.#running;
  }

  async #pass(now: number): Promise<void> {
    let failed = false;
    for (const b of this.#catalog.budgets) {
      const template = this.#catalog.instanceRef(b, '*', now);
      if (!forecastable(b, template)) continue;
      try {
        const instances = b.scope === 'global' ? ['*'] : await this.#ledger.instances(b.name, template.window.id);
        for (const inst of instances) await this.#instance(b, { ...template, instance: inst }, now);
      } catch (err) {
        failed = true;
        this.#failures.failed(err, () => ({ budget: b.name }));
      }
    }
    if (!failed) this.#failures.recovered();
  }

  async #instance(b: BudgetConfig, ref: InstanceRef, now: number): Promise<void> {
    const [st] = await this.#ledger.state([ref], now);
    if (!st) return;
    const key = `${b.name}|${ref.instance}`;
    const base = { budget: b, ref, spentPico: st.spentPico, reservedPico: st.reservedPico, updatedAt: now };
    const path = await this.#path(b, ref, st.spentPico, now);
    if (path === null) {
      const f: InstanceForecast = { ...base, status: 'no_spend_yet', path: null, live: null, pacedRate: null };
      this.#latest.set(key, f);
      this.#events.onForecast?.(f);
      await this.#spike(b, ref, null, now);
      return;
    }
    // Reservations are spend on its way (the cap counts them too): the band starts above them.
    const live = project(path, st.spentPico + st.reservedPico, now, ref.limitPico);
    const f: InstanceForecast = {
      ...base,
      status: 'computed',
      path,
      live,
      pacedRate:
        b.action === 'throttle' && ref.limitPico !== null
          ? pacedRate(ref.limitPico, st.spentPico, st.reservedPico, live.p50, ref.window.end, now)
          : null,
    };
    this.#latest.set(key, f);
    this.#events.onForecast?.(f);
    this.#score(key, ref, live.p50, now);
    await this.#spike(b, ref, live, now);
  }

  /**
   * The current window's path: a fresh one from memory or the store, else refit (if this proxy
   * wins the lock). Null when there is nothing to project from yet: such a fit is neither kept
   * nor published, so the first update after the first spend fits at once.
   */
  async #path(b: BudgetConfig, ref: InstanceRef, spent: number, now: number): Promise<ForecastPath | null> {
    const refit = this.#cfg().refit_interval_ms;
    const docKey = `${b.name}|${ref.instance}|${ref.window.id}`;
    const mine = this.#latest.get(`${b.name}|${ref.instance}`)?.path;
    if (mine && mine.windowId === ref.window.id && now - mine.fittedAt < refit) return mine;
    const shared = parsePath(await this.#store.getForecast(docKey, now));
    if (shared && shared.windowId === ref.window.id && now - shared.fittedAt < refit) return shared;
    if (!(await this.#store.claimRefit(docKey, refit, now)) && shared) return shared;
    const path = await this.#fit(b, ref, spent, now);
    if (path !== null) await this.#store.putForecast(docKey, JSON.stringify(path), 2 * refit, now);
    return path;
  }

  /** Null when there is nothing to project from: no spend in the window and none in the history. */
  async #fit(b: BudgetConfig, ref: InstanceRef, spent: number, now: number): Promise<ForecastPath | null> {
    const days = this.#cfg().history_days;
    const from = hourStart(now) - days * DAY_MS;
    const hourly = await this.#store.hourlySpend(b.name, ref.instance, from, now + HOUR_MS);
    const values = new Float64Array(Math.ceil((now + 1 - from) / HOUR_MS));
    for (const [t, v] of hourly) {
      const i = Math.floor((t - from) / HOUR_MS);
      if (i >= 0 && i < values.length) values[i] = (values[i] ?? 0) + v;
    }
    // Local midnight of the budget's time zone starts the forecaster's days.
    const dayOffsetMs = ((-zoneOffsetMs(b.timezone, now) % DAY_MS) + DAY_MS) % DAY_MS;
    // Hours before the first spend are "no history", not "zero spend": a budget created this
    // morning must cold-start, not forecast from 27 silent days.
    const first = values.findIndex((v) => v > 0);
    if (first < 0 && spent <= 0) return null;
    const start = first < 0 ? values.length - 1 : first;
    const f = fitForecaster(makeSeries(from + start * HOUR_MS, HOUR_MS, values.subarray(start)), { now, dayOffsetMs });
    return buildPath(
      f,
      {
        budget: b.name,
        instance: ref.instance,
        windowId: ref.window.id,
        windowStart: ref.window.start,
        windowEnd: ref.window.end,
        fittedAt: now,
      },
      spent,
    );
  }

  /** `live` null (no projection yet): judged against the floor alone. */
  async #spike(b: BudgetConfig, ref: InstanceRef, live: LiveProjection | null, now: number): Promise<void> {
    const { multiple, window_min: minutes, action } = b.spike;
    if (multiple === null || ref.limitPico === null) return;
    const recent = await this.#store.minuteSpend(b.name, ref.instance, now - minutes * MINUTE_MS, now + 1);
    let sum = 0;
    for (const v of recent.values()) sum += v;
    const rate = (sum * 60) / minutes;
    const expected = Math.max(live?.rateP90 ?? 0, ref.limitPico * SPIKE_FLOOR_SHARE_PER_HOUR);
    if (rate <= multiple * expected) return;
    // Once per incident across proxies: an hour-long claim per budget instance.
    if (!(await this.#store.claimIncident(`${b.name}|${ref.instance}`, HOUR_MS, now))) return;
    const offender = await this.#offender(now - minutes * MINUTE_MS, now);
    // Offenders are paced at the projection's rate: without a projection there is none, so only the alert.
    if (action === 'throttle_offender' && live !== null) {
      const ratePerMs = live.rateP50 / HOUR_MS;
      if (offender.keyId)
        this.#offenders.set(`${b.name}|${ref.instance}|key:${offender.keyId}`, { until: now + OFFENDER_TTL_MS, ratePerMs });
      if (offender.tag) this.#offenders.set(`${b.name}|${ref.instance}|tag:${offender.tag}`, { until: now + OFFENDER_TTL_MS, ratePerMs });
    }
    this.#logger.warn(
      {
        budget: b.name,
        instance: ref.instance,
        ...spikeAmounts(budgetCurrency(b), rate, expected),
        offender: offenderJson(offender),
      },
      'spend spike',
    );
    this.#events.onSpike?.({ budget: b, instance: ref.instance, ratePerHourPico: rate, expectedPerHourPico: expected, offender, at: now });
  }

  /** The key and tag that spent the most in the spike's minutes (from the metering store). */
  async #offender(from: number, to: number): Promise<SpikeEvent['offender']> {
    const top = async (by: 'key' | 'tag'): Promise<string | undefined> => {
      const rows = await this.#meter.query({ by, granularity: 'minute', from, to: to + 1 });
      const sums = new Map<string, bigint>();
      for (const r of rows) sums.set(r.value, (sums.get(r.value) ?? 0n) + r.totals.costPicoUsd);
      let best: string | undefined;
      let bestV = -1n;
      for (const [v, c] of sums) if (c > bestV) [best, bestV] = [v, c];
      return best;
    };
    const [keyId, tag] = await Promise.all([top('key'), top('tag')]);
    return { ...(keyId ? { keyId } : {}), ...(tag && tag !== 'untagged' ? { tag } : {}) };
  }

  /** Keep the p50 seen at 25/50/75% of each window; when the window changes, score them against what was spent. */
  #score(key: string, ref: InstanceRef, p50: number, now: number): void {
    const cp = this.#checkpoints.get(key);
    if (cp && cp.windowId !== ref.window.id) {
      this.#checkpoints.delete(key);
      void this.#ledger.state([cp.ref], cp.windowEnd - 1).then(
        ([final]) => {
          if (!final || final.spentPico <= 0 || cp.p50s.length === 0) return;
          const ape = (cp.p50s.reduce((a, p) => a + Math.abs(p - final.spentPico) / final.spentPico, 0) / cp.p50s.length) * 100;
          const budget = this.#catalog.find(ref.budget);
          if (budget) this.#events.onWindowClosed?.(budget, ref.instance, ape);
        },
        () => undefined,
      );
    }
    const cur = this.#checkpoints.get(key) ?? { windowId: ref.window.id, windowEnd: ref.window.end, ref, p50s: [] };
    const frac = (now - ref.window.start) / (ref.window.end - ref.window.start);
    if (cur.p50s.length < 3 && frac >= [0.25, 0.5, 0.75][cur.p50s.length]!) cur.p50s.push(p50);
    this.#checkpoints.set(key, cur);
  }
}

/** A budget instance with an end-of-window spend to project: a money limit and a calendar window. */
function forecastable(b: BudgetConfig, ref: InstanceRef): boolean {
  // Forecasts are of spend (token-only budgets have none); a rolling window has no end to project to.
  return (b.limit_usd !== null || b.limit !== null) && ref.window.rollingMs === null;
}

function parsePath(json: string | null): ForecastPath | null {
  if (json === null) return null;
  try {
    return JSON.parse(json) as ForecastPath;
  } catch {
    return null; // a corrupt document is refitted, not trusted
  }
}
