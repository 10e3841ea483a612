import type { PaceResult } from '../types.ts';

/**
 * The token-bucket arithmetic, used by the memory store and mirrored by the Redis Lua
 * (PACE_SCRIPT). Pacing amounts are rates, not money owed: doubles are fine here, the
 * budget counters themselves stay integers.
 */
export interface BucketState {
  level: number;
  ts: number;
}

/** Low-priority traffic must leave this share of the bucket untouched, so it is throttled first. */
export const LOW_PRIORITY_RESERVE = 0.5;

export function paceStep(
  state: BucketState | null,
  cost: number,
  ratePerMs: number,
  capacity: number,
  reserve: number,
  now: number,
): { state: BucketState; result: PaceResult } {
  // A new bucket starts full: pacing begins with the burst allowance, not with a wait.
  const prev = state ?? { level: capacity, ts: now };
  const level = Math.min(capacity, prev.level + Math.max(0, now - prev.ts) * ratePerMs);
  if (level - cost >= reserve) return { state: { level: level - cost, ts: now }, result: { ok: true, waitMs: 0 } };
  const missing = cost + reserve - level;
  return {
    state: { level, ts: now },
    result: { ok: false, waitMs: ratePerMs > 0 ? Math.ceil(missing / ratePerMs) : Number.POSITIVE_INFINITY },
  };
}

/** Seconds of the paced rate a bucket holds is the burst allowance; a single request must always fit. */
export function bucketCapacity(ratePerMs: number, burstS: number, cost: number): number {
  return Math.max(ratePerMs * burstS * 1000, cost);
}
