import { usdToPico } from '../core/money.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Pricer } from '../pricing/types.ts';
import type { Usage } from '../core/usage.ts';
import { emptyUsage } from '../core/usage.ts';
import type { BudgetConfig, BudgetStore, InstanceRef, InstanceState, WindowSpec, Amount } from './types.ts';
import { parseWindow, windowAt } from './windows.ts';
import { CostEstimator } from './estimate.ts';
import { budgetHeaders, crossedThresholds, denial, pacedDenial, tightest, type Denial } from './policy.ts';
import { bucketCapacity } from './pace.ts';
import { LOW_PRIORITY_RESERVE } from '../forecast/pacing.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the gate needs to know about a request before it is forwarded. */
export interface GateRequest {
  id: string;
  keyId: string;
  tag: string;
  model: string | null;
  path: string;
  bytes: number;
  maxTokens: number | null;
  betas: readonly string[];
  /** `x-meter-priority: low` is paced first (it must leave a reserve in the pacing bucket). */
  priority?: 'low' | 'normal';
  /** An SDK retry (`x-stainless-retry-count` > 0): its demand was already counted once. */
  retry?: boolean;
}

/** Where pacing rates come from (the forecast service); the gate only applies them. */
export interface PacingSource {
  /** pico-USD per ms for a throttle budget instance whose projection exceeds its limit, else null. */
  rate(budget: string, instance: string): number | null;
  /** A key or tag caught in a spike on this instance, paced at the forecast rate. */
  offenderRate(budget: string, instance: string, keyId: string, tag: string, now: number): { bucket: string; ratePerMs: number } | null;
}

export type Admission =
  | { kind: 'none' } // no budget applies
  | { kind: 'admitted'; refs: InstanceRef[]; budgets: BudgetConfig[]; amount: Amount; headers: Record<string, string> }
  | { kind: 'denied'; denial: Denial; budget: BudgetConfig }
  | { kind: 'store_error'; allow: boolean; refs: InstanceRef[]; budgets: BudgetConfig[]; error: unknown };

/** Hooks for metrics and alerts, so the gate stays free of prom-client and HTTP. */
export interface GateEvents {
  onStates?(budgets: readonly BudgetConfig[], refs: readonly InstanceRef[], states: readonly InstanceState[]): void;
  onDenied?(budget: BudgetConfig, ref: InstanceRef): void;
  onShadowDenied?(budget: BudgetConfig, ref: InstanceRef): void;
  onStoreError?(budget: BudgetConfig, allowed: boolean): void;
  onSettled?(budget: BudgetConfig, reserved: Amount, actual: Amount): void;
  /** A settle added `pico` to this instance's spend (not on a duplicate settle). */
  onSpent?(budget: BudgetConfig, ref: InstanceRef, pico: number): void;
  onThreshold?(budget: BudgetConfig, ref: InstanceRef, threshold: number, state: InstanceState): void;
  onThrottled?(budget: BudgetConfig, priority: string, outcome: 'rejected' | 'delayed'): void;
}

interface Compiled {
  config: BudgetConfig;
  spec: WindowSpec;
}

/** Reservations older than this are presumed orphaned (a crashed proxy) and stop counting. */
export const DEFAULT_RESERVATION_TTL_MS = 15 * 60_000; // 15 min: longer than any SDK request timeout (10 min)

/**
 * Admission and settlement for budgets. The atomicity lives in BudgetStore (one Lua
 * script per operation); this class decides which instances a request touches and how
 * much to reserve, and turns store answers into decisions.
 */
export class BudgetGate {
  #budgets: Compiled[] = [];
  readonly #store: BudgetStore;
  readonly #pricer: () => Pricer;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #events: GateEvents;
  readonly #estimator: CostEstimator;
  readonly #ttlMs: number;
  #pacing: PacingSource | null = null;

  constructor(opts: {
    store: BudgetStore;
    /** A getter: pricing can be reloaded with the config. */
    pricer: () => Pricer;
    clock: Clock;
    logger: Logger;
    budgets: readonly BudgetConfig[];
    events?: GateEvents;
    estimator?: CostEstimator;
    reservationTtlMs?: number;
  }) {
    this.#store = opts.store;
    this.#pricer = opts.pricer;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#events = opts.events ?? {};
    this.#estimator = opts.estimator ?? new CostEstimator();
    this.#ttlMs = opts.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.setBudgets(opts.budgets);
  }

  /** False when no budget is configured: the pipeline then skips admission (and reading the request body) entirely. */
  get active(): boolean {
    return this.#budgets.length > 0;
  }

  /** Swap the budget list (config reload). In-flight requests keep the refs they were admitted with. */
  setBudgets(budgets: readonly BudgetConfig[]): void {
    this.#budgets = budgets.map((config) => ({ config, spec: parseWindow(config.window, config.timezone) }));
  }

  /** Connect the forecast service (built after the gate, since it reads the gate's budgets). */
  setPacing(p: PacingSource | null): void {
    this.#pacing = p;
  }

  get budgets(): readonly BudgetConfig[] {
    return this.#budgets.map((b) => b.config);
  }

  get store(): BudgetStore {
    return this.#store;
  }

  /** The instances a request touches right now, with the window they are in. */
  refsFor(req: Pick<GateRequest, 'keyId' | 'tag' | 'model' | 'path'>, now: number): { refs: InstanceRef[]; budgets: BudgetConfig[] } {
    const model = req.model === null ? 'unknown' : (this.#pricer().resolve(req.model) ?? req.model);
    const refs: InstanceRef[] = [];
    const budgets: BudgetConfig[] = [];
    for (const { config: b, spec } of this.#budgets) {
      if (!matches(b, req.keyId, req.tag, model, req.path, (m) => this.#pricer().resolve(m) ?? m)) continue;
      const instance =
        b.scope === 'global' ? '*' : b.scope === 'per_key' ? req.keyId : b.scope === 'per_tag' ? req.tag || 'untagged' : model;
      refs.push(ref(b, spec, instance, now));
      budgets.push(b);
    }
    return { refs, budgets };
  }

  /** The ref of one instance of a configured budget (for reports and forecasts). */
  instanceRef(b: BudgetConfig, instance: string, now: number): InstanceRef {
    const c = this.#budgets.find((x) => x.config === b) ?? { config: b, spec: parseWindow(b.window, b.timezone) };
    return ref(c.config, c.spec, instance, now);
  }

  /** Expected cost of a request, in pico-USD and tokens, for its reservation. */
  expected(req: GateRequest): Amount {
    // Canonical id, so the estimator's history matches what settle() observes (records carry canonical ids).
    const model = req.model === null ? null : (this.#pricer().resolve(req.model) ?? req.model);
    const est = this.#estimator.estimate(model, req.keyId, req.bytes, req.maxTokens);
    const usage: Usage = { ...emptyUsage(), input: est.promptTokens, output: est.outputTokens };
    const price = this.#pricer().price(req.model, usage, { at: this.#clock.now(), betas: req.betas });
    // An unpriced model reserves no money (its cost is unknown, and is reported as unpriced); token limits still apply.
    return { pico: price.unpriced ? 0 : price.costPicoUsd, tokens: est.promptTokens + est.outputTokens };
  }

  async admit(req: GateRequest): Promise<Admission> {
    const now = this.#clock.now();
    const { refs, budgets } = this.refsFor(req, now);
    if (refs.length === 0) return { kind: 'none' };
    const amount = this.expected(req);
    let result;
    try {
      const paced = await this.#pace(req, refs, budgets, amount);
      if (paced) return paced;
      result = await this.#store.admit(refs, req.id, amount, this.#clock.now(), this.#ttlMs);
    } catch (error) {
      // Fail open or closed per budget: any budget that says deny makes the request fail closed.
      const allow = budgets.every((b) => b.on_store_error === 'allow');
      for (const b of budgets) this.#events.onStoreError?.(b, allow);
      this.#logger.error({ err: String(error), budgets: budgets.map((b) => b.name), allow }, 'budget store unreachable at admission');
      return { kind: 'store_error', allow, refs, budgets, error };
    }
    this.#events.onStates?.(budgets, refs, result.states);
    if (!result.admitted) {
      const i = result.deniedBy;
      const ref = refs[i];
      const budget = budgets[i];
      const st = result.states[i];
      if (ref === undefined || budget === undefined || st === undefined) throw new Error(`budget store returned deniedBy ${i} for ${refs.length} refs`);
      this.#events.onDenied?.(budget, ref);
      this.#recordDemand(req, refs, amount);
      return { kind: 'denied', denial: denial(budget, ref, st, amount, now), budget };
    }
    refs.forEach((ref, i) => {
      const st = result.states[i];
      const b = budgets[i];
      if (ref.enforce || st === undefined || b === undefined) return;
      if (wouldRefuse(ref, st)) {
        this.#events.onShadowDenied?.(b, ref);
        this.#logger.warn({ budget: b.name, instance: ref.instance, window: ref.window.id }, 'shadow budget would have rejected this request');
      }
    });
    const t = tightest(refs, result.states);
    const tr = refs[t];
    const tb = budgets[t];
    const ts = result.states[t];
    const headers = tr && tb && ts ? budgetHeaders(tb, tr, ts, tr.window.rollingMs === null ? tr.window.end : null) : {};
    return { kind: 'admitted', refs, budgets, amount, headers };
  }

  /**
   * Pacing: for throttle budgets whose projection exceeds the limit (and keys or tags caught
   * in a spike), take the expected cost from a shared token bucket refilled at the paced rate.
   * `delay` mode waits for the bucket when the wait is short enough; otherwise 429.
   */
  async #pace(req: GateRequest, refs: InstanceRef[], budgets: BudgetConfig[], amount: Amount): Promise<Admission | null> {
    if (this.#pacing === null) return null;
    for (const [i, ref] of refs.entries()) {
      const b = budgets[i];
      if (!b || !ref.enforce) continue;
      const buckets: { bucket: string; ratePerMs: number }[] = [];
      const rate = b.action === 'throttle' ? this.#pacing.rate(b.name, ref.instance) : null;
      if (rate !== null) buckets.push({ bucket: `${b.name}|${ref.instance}|${ref.window.id}`, ratePerMs: rate });
      const off = this.#pacing.offenderRate(b.name, ref.instance, req.keyId, req.tag, this.#clock.now());
      if (off) buckets.push(off);
      for (const { bucket, ratePerMs } of buckets) {
        const capacity = bucketCapacity(ratePerMs, b.throttle.burst_s, amount.pico);
        const reserve = req.priority === 'low' ? capacity * LOW_PRIORITY_RESERVE : 0;
        let r = await this.#store.pace(bucket, amount.pico, ratePerMs, capacity, reserve, this.#clock.now());
        if (!r.ok && b.throttle.mode === 'delay' && r.waitMs <= b.throttle.max_delay_ms) {
          this.#events.onThrottled?.(b, req.priority ?? 'normal', 'delayed');
          await sleep(r.waitMs);
          r = await this.#store.pace(bucket, amount.pico, ratePerMs, capacity, reserve, this.#clock.now());
        }
        if (!r.ok) {
          this.#events.onThrottled?.(b, req.priority ?? 'normal', 'rejected');
          this.#recordDemand(req, refs, amount);
          return { kind: 'denied', denial: pacedDenial(b, ref, ratePerMs, r.waitMs, this.#clock.now()), budget: b };
        }
      }
    }
    return null;
  }

  /** Refused demand feeds the forecast history (not the spend); SDK retries are not new demand. Best effort. */
  #recordDemand(req: GateRequest, refs: InstanceRef[], amount: Amount): void {
    if (req.retry === true) return;
    this.#store.recordDemand(refs, amount.pico, this.#clock.now()).catch((err: unknown) => {
      this.#logger.debug({ err: String(err) }, 'could not record refused demand');
    });
  }

  /**
   * Settle after the response: release the reservation, add the actual cost. Learns from
   * the real usage for future estimates. Throws when the store is unreachable (the caller queues it).
   */
  async settle(
    admission: { refs: InstanceRef[]; budgets: BudgetConfig[]; amount?: Amount },
    id: string,
    actual: Amount,
  ): Promise<void> {
    const res = await this.#store.settle(admission.refs, id, actual, this.#clock.now());
    this.#events.onStates?.(admission.budgets, admission.refs, res.after);
    for (const [i, ref] of admission.refs.entries()) {
      const b = admission.budgets[i];
      const before = res.before[i];
      const after = res.after[i];
      if (!b || !before || !after) continue;
      if (admission.amount && res.reservationFound) this.#events.onSettled?.(b, admission.amount, actual);
      if (!res.duplicate && actual.pico > 0) this.#events.onSpent?.(b, ref, actual.pico);
      for (const th of crossedThresholds(b.alert_at, ref, before, after)) {
        if (await this.#store.claimAlert(ref, th)) this.#events.onThreshold?.(b, ref, th, after);
      }
    }
  }

  observe(model: string | null, keyId: string, requestBytes: number, usage: Usage): void {
    this.#estimator.observe(model, keyId, requestBytes, usage);
  }
}

function ref(b: BudgetConfig, spec: WindowSpec, instance: string, now: number): InstanceRef {
  return {
    budget: b.name,
    instance,
    window: windowAt(spec, now),
    limitPico: b.limit_usd === null ? null : usdToPico(b.limit_usd),
    limitTokens: b.limit_tokens,
    enforce: b.action !== 'shadow',
  };
}

/** `match.model` entries may be aliases: both sides are compared as canonical ids. */
function matches(b: BudgetConfig, keyId: string, tag: string, model: string, path: string, canonical: (m: string) => string): boolean {
  const m = b.match;
  if (m.key.length > 0 && !m.key.includes(keyId)) return false;
  if (m.tag.length > 0 && !m.tag.includes(tag)) return false;
  if (m.model.length > 0 && !m.model.some((x) => canonical(x) === model)) return false;
  if (m.path.length > 0 && !m.path.some((p) => path === p || path.startsWith(`${p}?`))) return false;
  return true;
}

function wouldRefuse(ref: InstanceRef, st: InstanceState): boolean {
  return (
    (ref.limitPico !== null && st.spentPico + st.reservedPico > ref.limitPico) ||
    (ref.limitTokens !== null && st.spentTokens + st.reservedTokens > ref.limitTokens)
  );
}
