/**
 * What prompt caching saved, priced by the same table as the bill. Shared by `claude-meter
 * report` and, for a cache-savings metric, by whatever counts it per request, so the two agree.
 */
import { emptyUsage, type Usage } from '../core/usage.ts';
import type { Pricer } from './types.ts';

/** Cache token counts of one request, or sums over many. */
export interface CacheTokens {
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
}

/**
 * Net savings in integer pico-USD: the cache tokens priced as plain input, minus what they
 * were billed. Reads cost less than input and writes more, so this is negative for traffic
 * that writes caches it never reads. Uses the model's base per-token rates in force at `at`:
 * linear in the counts, so sums of many requests give the sum of their savings; long-prompt
 * tiers, batch and geo multipliers (per-request facts that sums lose) are left out.
 * Null when the model has no price at `at`.
 */
export function cacheSavingsPico(pricer: Pricer, model: string | null, tokens: CacheTokens, at: number): bigint | null {
  const rate = (u: Partial<Usage>): bigint | null => {
    const r = pricer.price(model, { ...emptyUsage(), ...u }, { at, betas: [] });
    return r.unpriced ? null : BigInt(r.costPicoUsd);
  };
  // One token of each kind: far below every long-prompt threshold, so these are the base rates.
  const input = rate({ input: 1 });
  const read = rate({ cacheRead: 1 });
  const write5m = rate({ cacheCreation: 1, cacheCreation5m: 1, cacheCreation1h: 0 });
  const write1h = rate({ cacheCreation: 1, cacheCreation5m: 0, cacheCreation1h: 1 });
  if (input === null || read === null || write5m === null || write1h === null) return null;
  const B = BigInt;
  return B(tokens.cacheRead) * (input - read) - B(tokens.cacheWrite5m) * (write5m - input) - B(tokens.cacheWrite1h) * (write1h - input);
}
