import type { Timers } from '../../lib/clock.ts';
import type { Amount, BudgetConfig, InstanceRef, PaceBuckets, PaceResult } from '../types.ts';
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
 * A proxy takes a bucket's cost in slices of up to this many ms of its paced rate and spends them
 * request by request, so a paced budget costs one store call per slice rather than per request.
 * A slice left unspent lapses with it: pacing errs towards admitting less, by at most one
 * slice per proxy and bucket.
 */
export const PACE_SLICE_MS = 250;
/** Slices kept at most (one per bucket and priority); expired ones are swept beyond. */
const MAX_SLICES = 10_000;

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
  /** Unspent slices, per bucket and priority (a low-priority slice was taken leaving the reserve). */
  readonly #slices = new Map<string, Slice>();
  readonly #sliced: boolean;

  constructor(opts: {
    buckets: PaceBuckets;
    source: PacingSource;
    /** Also how `delay` mode waits. */
    clock: Timers;
    onThrottled?: (budget: BudgetConfig, priority: string, outcome: 'refused' | 'delayed') => void;
    /** Take the bucket in slices (a shared store, where each take is a round trip); off: per request. */
    slices?: boolean;
  }) {
    this.#sliced = opts.slices ?? false;
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
        const take = (): Promise<PaceResult> =>
          this.#sliced
            ? this.#fromSlice(`${bucket}\u0000${priority}`, bucket, amount.pico, ratePerMs, capacity, reserve)
            : this.#buckets.pace(bucket, amount.pico, ratePerMs, capacity, reserve, this.#clock.now());
        let r = await take();
        if (!r.ok && b.throttle.mode === 'delay' && r.waitMs <= b.throttle.max_delay_ms) {
          this.#onThrottled(b, priority, 'delayed');
          await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, r.waitMs));
          r = await take();
        }
        if (!r.ok) {
          this.#onThrottled(b, priority, 'refused');
          return { refusal: pacedRefusal(b, ref, ratePerMs, r.waitMs, this.#clock.now()), budget: b };
        }
      }
    }
    return null;
  }

  /**
   * Takes `cost` from this proxy's slice of `bucket`, taking a new slice from the shared bucket
   * when it runs short, else the cost alone. A bucket found short stays short for this cost
   * until its answer's wait has passed (it refills at `ratePerMs` at most), so refusals in a
   * paced stretch cost no store call either.
   */
  async #fromSlice(key: string, bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number): Promise<PaceResult> {
    const now = this.#clock.now();
    const held = this.#slices.get(key);
    if (held !== undefined && held.ratePerMs === ratePerMs) {
      if (held.until > now && held.pico >= cost) {
        held.pico -= cost;
        return { ok: true, waitMs: 0 };
      }
      if (held.shortUntil > now && cost >= held.shortCost) return { ok: false, waitMs: held.shortUntil - now };
    }
    const slice = Math.min(ratePerMs * PACE_SLICE_MS, capacity - reserve);
    // After a slice was refused, the bucket needs a slice's time to hold one again: until then, costs one by one.
    const sliceAt = held !== undefined && held.ratePerMs === ratePerMs ? held.sliceAt : 0;
    if (slice > cost && sliceAt <= now) {
      if ((await this.#buckets.pace(bucket, slice, ratePerMs, capacity, reserve, now)).ok) {
        // Requests that missed at once each took a slice: what is left of them adds up, none is lost.
        const live = this.#slices.get(key);
        const left = live !== undefined && live.ratePerMs === ratePerMs && live.until > now ? live.pico : 0;
        this.#keep(key, { pico: left + slice - cost, until: now + PACE_SLICE_MS, ratePerMs, shortUntil: 0, shortCost: 0, sliceAt: 0 }, now);
        return { ok: true, waitMs: 0 };
      }
    }
    const r = await this.#buckets.pace(bucket, cost, ratePerMs, capacity, reserve, now);
    const next = sliceAt > now ? sliceAt : now + PACE_SLICE_MS;
    const short = !r.ok && Number.isFinite(r.waitMs);
    // A slice another request took meanwhile stays.
    const live = this.#slices.get(key);
    const kept = live !== undefined && live.ratePerMs === ratePerMs && live.until > now ? live : { pico: 0, until: 0 };
    this.#keep(
      key,
      { pico: kept.pico, until: kept.until, ratePerMs, shortUntil: short ? now + r.waitMs : 0, shortCost: short ? cost : 0, sliceAt: next },
      now,
    );
    return r;
  }

  #keep(key: string, slice: Slice, now: number): void {
    if (this.#slices.size >= MAX_SLICES)
      for (const [k, v] of this.#slices) if (v.until <= now && v.shortUntil <= now) this.#slices.delete(k);
    if (this.#slices.size < MAX_SLICES || this.#slices.has(key)) this.#slices.set(key, slice);
  }
}

interface Slice {
  /** Unspent, usable until `until`. */
  pico: number;
  until: number;
  /** The rate it was taken at: a new rate starts afresh. */
  ratePerMs: number;
  /** The bucket lacked `shortCost` until then (its own answer's wait). */
  shortUntil: number;
  shortCost: number;
  /** No slice is asked for before then (one was refused). */
  sliceAt: number;
}
