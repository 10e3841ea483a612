import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Pricer } from '../pricing/types.ts';
import type { Usage } from '../core/usage.ts';
import { emptyUsage } from '../core/usage.ts';
import { MINUTE_MS } from '../core/time.ts';
import type { Amount, BudgetConfig, BudgetLedger, InstanceRef, InstanceState, PaceBuckets } from './types.ts';
import type { BudgetCatalog, BudgetMatch } from './catalog.ts';
import { CostEstimator } from './estimate.ts';
import { budgetHeaders, crossedThresholds, denial, tightest, type Denial } from './policy.ts';
import { Pacer, type PacingSource, type Sleep } from './pacer.ts';

/** What the gate needs to know about a request before it is forwarded. */
export interface GateRequest extends BudgetMatch {
  id: string;
  bytes: number;
  maxTokens: number | null;
  betas: readonly string[];
  /** `x-meter-priority: low` is paced first (it must leave a reserve in the pacing bucket). */
  priority?: 'low' | 'normal';
  /** An SDK retry (`x-stainless-retry-count` > 0): its demand was already counted once. */
  retry?: boolean;
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

/** Reservations older than this are presumed orphaned (a crashed proxy) and stop counting. */
export const DEFAULT_RESERVATION_TTL_MS = 15 * MINUTE_MS; // longer than any SDK request timeout (10 min)

/**
 * Admission and settlement for budgets. The atomicity lives in the ledger (one Lua script
 * per operation); this class decides how much to reserve for the instances the catalog
 * says a request touches, applies pacing, and turns ledger answers into decisions.
 */
export class BudgetGate {
  readonly catalog: BudgetCatalog;
  readonly ledger: BudgetLedger;
  readonly #pacer: Pacer | null;
  readonly #pricer: () => Pricer;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #events: GateEvents;
  readonly #estimator: CostEstimator;
  readonly #ttlMs: number;

  constructor(opts: {
    catalog: BudgetCatalog;
    ledger: BudgetLedger;
    buckets: PaceBuckets;
    /** Pacing rates (the forecast service); without one nothing is paced. */
    pacing?: PacingSource;
    /** A getter: pricing can be reloaded with the config. */
    pricer: () => Pricer;
    clock: Clock;
    logger: Logger;
    events?: GateEvents;
    estimator?: CostEstimator;
    reservationTtlMs?: number;
    /** How `throttle.mode: delay` waits (default: a real timer). */
    sleep?: Sleep;
  }) {
    this.catalog = opts.catalog;
    this.ledger = opts.ledger;
    this.#pricer = opts.pricer;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#events = opts.events ?? {};
    this.#estimator = opts.estimator ?? new CostEstimator();
    this.#ttlMs = opts.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    const events = this.#events;
    this.#pacer = opts.pacing
      ? new Pacer({
          buckets: opts.buckets,
          source: opts.pacing,
          clock: opts.clock,
          onThrottled: (budget, priority, outcome) => events.onThrottled?.(budget, priority, outcome),
          ...(opts.sleep ? { sleep: opts.sleep } : {}),
        })
      : null;
  }

  /** False when no budget is configured: the pipeline then skips admission (and reading the request body) entirely. */
  get active(): boolean {
    return this.catalog.active;
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
    const { refs, budgets } = this.catalog.refsFor(req, now);
    if (refs.length === 0) return { kind: 'none' };
    const amount = this.expected(req);
    let result;
    try {
      const paced = this.#pacer ? await this.#pacer.check(req, refs, budgets, amount) : null;
      if (paced) {
        this.#recordDemand(req, refs, amount);
        return { kind: 'denied', ...paced };
      }
      result = await this.ledger.admit(refs, req.id, amount, this.#clock.now(), this.#ttlMs);
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
    const tightRef = refs[t];
    const tightBudget = budgets[t];
    const tightState = result.states[t];
    const headers =
      tightRef && tightBudget && tightState
        ? budgetHeaders(tightBudget, tightRef, tightState, tightRef.window.rollingMs === null ? tightRef.window.end : null)
        : {};
    return { kind: 'admitted', refs, budgets, amount, headers };
  }

  /** Refused demand feeds the forecast history (not the spend); SDK retries are not new demand. Best effort. */
  #recordDemand(req: GateRequest, refs: InstanceRef[], amount: Amount): void {
    if (req.retry === true) return;
    this.ledger.recordDemand(refs, amount.pico, this.#clock.now()).catch((err: unknown) => {
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
    const result = await this.ledger.settle(admission.refs, id, actual, this.#clock.now());
    this.#events.onStates?.(admission.budgets, admission.refs, result.after);
    for (const [i, ref] of admission.refs.entries()) {
      const b = admission.budgets[i];
      const before = result.before[i];
      const after = result.after[i];
      if (!b || !before || !after) continue;
      if (admission.amount && result.reservationFound) this.#events.onSettled?.(b, admission.amount, actual);
      if (!result.duplicate && actual.pico > 0) this.#events.onSpent?.(b, ref, actual.pico);
      for (const th of crossedThresholds(b.alert_at, ref, before, after)) {
        if (await this.ledger.claimAlert(ref, th)) this.#events.onThreshold?.(b, ref, th, after);
      }
    }
  }

  observe(model: string | null, keyId: string, requestBytes: number, usage: Usage): void {
    this.#estimator.observe(model, keyId, requestBytes, usage);
  }
}

function wouldRefuse(ref: InstanceRef, st: InstanceState): boolean {
  return (
    (ref.limitPico !== null && st.spentPico + st.reservedPico > ref.limitPico) ||
    (ref.limitTokens !== null && st.spentTokens + st.reservedTokens > ref.limitTokens)
  );
}
