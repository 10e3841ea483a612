/**
 * Continuous reconciliation (config `reconcile.enabled`): on every proxy a timer ticks each
 * `interval_ms` (at least a minute); at each tick one proxy of the deployment wins a lock (the
 * forecast store's claim, as a forecast refit does), reads Anthropic's usage report for the last
 * `window_hours` complete hours and compares it with the store by model (report/reconcile.ts),
 * and publishes the check; every proxy then holds the latest published check, which the metrics
 * (`claude_meter_reconcile_capture_ratio{model}`), /_meter/health and the status page show. So
 * the Admin API is read at most once an interval per deployment, and every proxy exports the
 * same values.
 */
import type { Config } from '../config/types.ts';
import type { ForecastStore } from '../budget/types.ts';
import { HOUR_MS } from '../core/time.ts';
import { picoToUsd } from '../core/money.ts';
import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Pricer } from '../pricing/types.ts';
import type { MeterStore } from '../store/types.ts';
import { AdminClient } from './admin-client.ts';
import { add, anthropicUpstreams, capture, emptySide, landedCutoff, reconcile, type Side } from './reconcile.ts';

/** The lock and the published check, in the forecast store's key space. */
const LOCK = 'reconcile';
/** Models exported at most (by Anthropic's cost, highest first): a bound on the metric's series. */
const MAX_MODELS = 50;

/** One check: capture per model over [from, to), as every proxy shows it. */
export interface CaptureCheck {
  /** When the check ran (epoch ms). */
  at: number;
  from: number;
  to: number;
  upstreams: string[];
  /** ours ÷ theirs over every model; null when Anthropic reports nothing. */
  overall: number | null;
  models: Array<{ model: string; capture: number | null; ours_usd: number; theirs_usd: number }>;
}

export interface ReconcilePollerOptions {
  config(): Config;
  store: Pick<MeterStore, 'query'>;
  pricer(): Pricer;
  lock: Pick<ForecastStore, 'claimRefit' | 'putForecast' | 'getForecast'>;
  clock: Timers;
  logger: Logger;
  /** After each tick that has a check (this proxy's or one published), and after a failed read. */
  onCheck(check: CaptureCheck | null, outcome: 'checked' | 'adopted' | 'failed'): void;
  fetch?: typeof fetch;
}

export class ReconcilePoller {
  readonly #o: ReconcilePollerOptions;
  #timer: TimerHandle | null = null;
  #latest: CaptureCheck | null = null;
  #lastError: string | null = null;

  constructor(o: ReconcilePollerOptions) {
    this.#o = o;
  }

  /** The latest check this proxy holds (its own or published by another), or null. */
  latest(): CaptureCheck | null {
    return this.#latest;
  }

  /** The last failure's line, cleared by a good check. */
  lastError(): string | null {
    return this.#lastError;
  }

  start(): void {
    if (this.#timer !== null) return;
    const tick = () => {
      void this.tick(this.#o.clock.now());
      // Read again each time: a reload may change the interval or turn reconciliation on or off.
      this.#timer = this.#o.clock.setTimeout(tick, this.#o.config().reconcile.interval_ms);
      this.#timer.unref?.();
    };
    tick();
  }

  /** Stops the timer. A read in flight is not awaited: a slow Admin API must not hold a shutdown (its result only updates gauges). */
  async stop(): Promise<void> {
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** One tick: check if this proxy wins the lock, else adopt the check another published. */
  async tick(now: number): Promise<void> {
    const cfg = this.#o.config().reconcile;
    if (!cfg.enabled || cfg.admin_key === null) return;
    try {
      if (await this.#o.lock.claimRefit(LOCK, cfg.interval_ms, now)) {
        const check = await this.#check(now);
        await this.#o.lock.putForecast(LOCK, JSON.stringify(check), 10 * cfg.interval_ms, now);
        this.#latest = check;
        this.#lastError = null;
        this.#o.onCheck(check, 'checked');
        return;
      }
      const doc = await this.#o.lock.getForecast(LOCK, now);
      if (doc !== null) {
        this.#latest = JSON.parse(doc) as CaptureCheck;
        this.#o.onCheck(this.#latest, 'adopted');
      }
    } catch (err) {
      const line = err instanceof Error ? err.message : String(err);
      if (line !== this.#lastError)
        this.#o.logger.warn({ err: line }, 'reconcile: the check failed; the capture ratio keeps its last value');
      this.#lastError = line;
      this.#o.onCheck(this.#latest, 'failed');
    }
  }

  async #check(now: number): Promise<CaptureCheck> {
    const config = this.#o.config();
    const cfg = config.reconcile;
    const to = landedCutoff(now);
    const from = to - cfg.window_hours * HOUR_MS;
    const { compared, leftOut } = anthropicUpstreams(config, cfg.upstreams);
    const admin = new AdminClient({
      url: cfg.api_url,
      key: cfg.admin_key ?? '',
      // A 429 waits on the injected clock, so tests advance it instead of sleeping.
      sleep: (ms) => new Promise((resolve) => this.#o.clock.setTimeout(resolve, ms)),
      ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}),
    });
    const [theirs, ours] = await Promise.all([
      admin.usage({ from, to, width: '1h' }),
      this.#o.store.query({ by: 'upstream_model_key', granularity: 'hour', from, to }),
    ]);
    const r = reconcile({
      by: 'model',
      from,
      to,
      cutoff: to,
      upstreams: compared,
      leftOut,
      ours,
      theirs,
      cost: null,
      keys: null,
      pricer: this.#o.pricer(),
      notes: [],
    });
    const byModel = new Map<string, { ours: Side; theirs: Side }>();
    for (const row of r.rows) {
      const model = row.model ?? 'unknown';
      let m = byModel.get(model);
      if (m === undefined) byModel.set(model, (m = { ours: emptySide(), theirs: emptySide() }));
      add(m.ours, row.ours);
      add(m.theirs, row.theirs);
    }
    const models = [...byModel.entries()]
      .sort(([a, x], [b, y]) => (y.theirs.picoUsd > x.theirs.picoUsd ? 1 : y.theirs.picoUsd < x.theirs.picoUsd ? -1 : a < b ? -1 : 1))
      .slice(0, MAX_MODELS)
      .map(([model, s]) => ({
        model,
        capture: rounded(capture(s.ours, s.theirs).ratio),
        ours_usd: picoToUsd(s.ours.picoUsd),
        theirs_usd: picoToUsd(s.theirs.picoUsd),
      }));
    return { at: now, from, to, upstreams: compared, overall: rounded(capture(r.total.ours, r.total.theirs).ratio), models };
  }
}

function rounded(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10_000) / 10_000;
}
