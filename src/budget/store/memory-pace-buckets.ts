import { paceStep, type BucketState } from '../pacing/bucket.ts';
import type { PaceBuckets, PaceResult } from '../types.ts';

/** In-process PaceBuckets, the pacing third of MemoryBudgetStore: the arithmetic of budget/pacing/bucket.ts over a Map. */
export class MemoryPaceBuckets implements PaceBuckets {
  readonly #buckets = new Map<string, BucketState>();

  async pace(bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number, now: number): Promise<PaceResult> {
    const step = paceStep(this.#buckets.get(bucket) ?? null, cost, ratePerMs, capacity, reserve, now);
    this.#buckets.set(bucket, step.state);
    return step.result;
  }
}
