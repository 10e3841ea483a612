/**
 * The check-then-add admission most gateways use, for comparison in the concurrency test:
 * read spent, let the request through if spent < limit, add the cost when it finishes.
 * No reservation, so every request that starts before the others settle sees the same
 * stale spend. Built on the real store so both variants run the same Redis and proxies.
 */
import type {
  PaceResult,
  AdmitResult,
  Amount,
  BudgetStore,
  DiscardResult,
  InstanceRef,
  InstanceState,
  LeaseEntry,
  LeaseResult,
  SettleResult,
} from '../../src/budget/types.ts';

export class NaiveBudgetStore implements BudgetStore {
  readonly #inner: BudgetStore;
  constructor(inner: BudgetStore) {
    this.#inner = inner;
  }

  async admit(refs: readonly InstanceRef[], _id: string, _amounts: readonly Amount[], now: number): Promise<AdmitResult> {
    const states = await this.#inner.state(refs, now);
    const refusedBy = refs.findIndex((r, i) => r.enforce && r.limitPico !== null && (states[i]?.spentPico ?? 0) >= r.limitPico);
    return { admitted: refusedBy < 0, refusedBy, fitsUnreserved: false, states };
  }

  settle(refs: readonly InstanceRef[], id: string, actual: readonly Amount[], now: number): Promise<SettleResult> {
    return this.#inner.settle(refs, id, actual, now);
  }

  lease(
    holder: string,
    batch: string,
    entries: readonly LeaseEntry[],
    share: number,
    now: number,
    ttl: { ttlMs: number; heldTtlMs: number },
  ): Promise<LeaseResult> {
    return this.#inner.lease(holder, batch, entries, share, now, ttl);
  }

  discard(refs: readonly InstanceRef[], id: string, now: number): Promise<DiscardResult> {
    return this.#inner.discard(refs, id, now);
  }

  state(refs: readonly InstanceRef[], now: number): Promise<InstanceState[]> {
    return this.#inner.state(refs, now);
  }

  pace(bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number, now: number): Promise<PaceResult> {
    return this.#inner.pace(bucket, cost, ratePerMs, capacity, reserve, now);
  }

  claimRefit(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#inner.claimRefit(key, ttlMs, now);
  }

  claimIncident(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#inner.claimIncident(key, ttlMs, now);
  }

  putForecast(key: string, json: string, ttlMs: number, now: number): Promise<void> {
    return this.#inner.putForecast(key, json, ttlMs, now);
  }

  getForecast(key: string, now: number): Promise<string | null> {
    return this.#inner.getForecast(key, now);
  }

  recordDemand(refs: readonly InstanceRef[], pico: readonly number[], now: number): Promise<void> {
    return this.#inner.recordDemand(refs, pico, now);
  }

  hourlySpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return this.#inner.hourlySpend(budget, instance, from, to);
  }

  minuteSpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return this.#inner.minuteSpend(budget, instance, from, to);
  }

  instances(budget: string, windowId: string): Promise<string[]> {
    return this.#inner.instances(budget, windowId);
  }

  claimAlert(ref: InstanceRef, threshold: number): Promise<boolean> {
    return this.#inner.claimAlert(ref, threshold);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
