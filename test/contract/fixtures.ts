/** Shared builders for store tests: request records and fixed times (the clock is a ManualClock starting at T0). */
import type { RequestRecord } from '../../src/store/types.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../../src/core/time.ts';
import type { Usage } from '../../src/core/usage.ts';

/** 2025-01-15T10:00:00Z: a fixed hour start, so tests can place records on exact boundaries. */
export const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
export const MIN = MINUTE_MS;
export const HOUR = HOUR_MS;
export const DAY = DAY_MS;

export function usage(over: Partial<Usage> = {}): Usage {
  return {
    input: 10,
    output: 20,
    cacheCreation: 0,
    cacheCreation5m: null,
    cacheCreation1h: null,
    cacheRead: 0,
    webSearchRequests: 0,
    webFetchRequests: 0,
    serviceTier: 'standard',
    inferenceGeo: null,
    speed: null,
    ...over,
  };
}

let seq = 0;

/**
 * A successful, priced, metered request at T0 unless overridden; ids are unique per call. Billed
 * as the default upstream bills: the list price in USD (so by default billed follows the cost).
 */
export function rec(over: Partial<RequestRecord> = {}): RequestRecord {
  seq += 1;
  return {
    id: `r-${process.pid}-${seq}`,
    ts: T0,
    method: 'POST',
    path: '/v1/messages',
    model: 'claude-sonnet-4-5',
    keyId: 'k1',
    tag: '',
    status: 200,
    stream: false,
    usage: usage(),
    usageMissing: null,
    partial: false,
    estimated: false,
    upstream: 'default',
    costPicoUsd: 1_000,
    unpriced: false,
    currency: 'USD',
    billedPico: over.costPicoUsd ?? 1_000,
    billedUnpriced: over.unpriced ?? false,
    usageAdjusted: null,
    free: false,
    latencyMs: 1234.5,
    ttftMs: null,
    upstreamLatencyMs: 800,
    errorType: null,
    messageId: 'msg_01',
    ...over,
  };
}

/** A small deterministic PRNG (mulberry32), so "random" inputs are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
