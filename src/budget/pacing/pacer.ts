import type { Timers } from '../../lib/clock.ts';
import type { Amount, BudgetConfig, InstanceRef, PaceBuckets } from '../types.ts';
import { bucketCapacity, LOW_PRIORITY_RESERVE } from './bucket.ts';
import { pacedRefusal, type Refusal } from '../policy.ts';

/** Where pacing rates come from (the forecast service); budget/ only applies them. */
export interface PacingSource {
  /** pico-units (of the instance's currency) per ms for a throttle budget instance whose projection exceeds its limit, else null. */
  rate(budget: string, instance: string): number | null;
  /** A key or tag caught in a spike on this instance, paced at the forecast rate. */
  offenderRate(budget: string, instance: string, keyId: string, tag: string, now: number): { bucket: string; ratePerMs: number } | null;
}

/** The request fields pacing reads. */
export interface PacedRequest {
  keyId: string;
  tag: string;
  priority?: 'low' | 'normal';
}

/**
 * Pacing: for throttle budgets whose projection exceeds the limit (and keys or tags caught
 * in a spike), take the expected cost from a shared token bucket refilled at the paced rate.
 * `delay` mode waits for the bucket when the wait is short enough; otherwise the request is refused.
 */
export class Pacer {
  readonly #buckets: PaceBuckets;
  readonly #source: PacingSource;
  readonly #clock: Timers;
  readonly #onThrottled: (budget: BudgetConfig, priority: string, outcome: 'refused' | 'delayed') => void;

  constructor(opts: {
    buckets: PaceBuckets;
    source: PacingSource;
    /** Also how `delay` mode waits. */
    clock: Timers;
    onThrottled?: (budget: BudgetConfig, priority: string, outcome: 'refused' | 'delayed') => void;
  }) {
    this.#buckets = opts.buckets;
    this.#source = opts.source;
    this.#clock = opts.clock;
    this.#onThrottled = opts.onThrottled ?? (() => undefined);
  }

  /**
   * The first pacing refusal among the enforcing refs, or null when every bucket had the cost.
   * `amounts[i]` is ref i's expected cost, in its currency: the currency its paced rate is in.
   */
  async check(
    req: PacedRequest,
    refs: readonly InstanceRef[],
    budgets: readonly BudgetConfig[],
    amounts: readonly Amount[],
  ): Promise<{ refusal: Refusal; budget: BudgetConfig } | null> {
    const priority = req.priority ?? 'normal';
    for (const [i, ref] of refs.entries()) {
      const b = budgets[i];
      const amount = amounts[i];
      if (!b || !amount || !ref.enforce) continue;
      const buckets: { bucket: string; ratePerMs: number }[] = [];
      const rate = b.action === 'throttle' ? this.#source.rate(b.name, ref.instance) : null;
      if (rate !== null) buckets.push({ bucket: `${b.name}|${ref.instance}|${ref.window.id}`, ratePerMs: rate });
      const offender = this.#source.offenderRate(b.name, ref.instance, req.keyId, req.tag, this.#clock.now());
      if (offender) buckets.push(offender);
      for (const { bucket, ratePerMs } of buckets) {
        const capacity = bucketCapacity(ratePerMs, b.throttle.burst_s, amount.pico);
        const reserve = req.priority === 'low' ? capacity * LOW_PRIORITY_RESERVE : 0;
        let r = await this.#buckets.pace(bucket, amount.pico, ratePerMs, capacity, reserve, this.#clock.now());
        if (!r.ok && b.throttle.mode === 'delay' && r.waitMs <= b.throttle.max_delay_ms) {
          this.#onThrottled(b, priority, 'delayed');
          await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, r.waitMs));
          r = await this.#buckets.pace(bucket, amount.pico, ratePerMs, capacity, reserve, this.#clock.now());
        }
        if (!r.ok) {
          this.#onThrottled(b, priority, 'refused');
          return { refusal: pacedRefusal(b, ref, ratePerMs, r.waitMs, this.#clock.now()), budget: b };
        }
      }
    }
    return null;
  }
}
