/**
 * OpenAI-format usage into the canonical usage (core/usage.ts): four disjoint counts, input
 * being the uncached part of the prompt. Pure; the only state is the upstream's SemanticsProof.
 *
 * - `openai` semantics: input = prompt − cache reads − cache writes;
 * - `anthropic` semantics: input = prompt;
 * - DeepSeek's `prompt_cache_miss_tokens`, when sent, is the input whatever the semantics: the
 *   upstream said itself which part missed the cache;
 * - output = the completion count (reasoning inside); cache writes keep their TTL split when
 *   reported, the part it does not place counted at the 5-minute TTL (the default one), as
 *   api/anthropic/usage.ts does.
 * No count is ever negative: an inclusive prompt smaller than its cache is clamped to input 0,
 * and the reading's `adjusted` says so (the record keeps the reason, a counter counts it).
 */
import type { Usage, UsageSemantics } from '../../core/usage.ts';
import { emptyUsage } from '../../core/usage.ts';
import { type CountCheck, type ReportedUsage, reportedUsage } from './reported.ts';
import type { Reading, SemanticsProof } from './semantics.ts';

/** Why a reading was clamped: cache reads and writes above an inclusive prompt count. */
export const CACHE_EXCEEDS_PROMPT = 'cache_exceeds_prompt';

export interface UsageReading {
  /** Null when absent, and when invalid. */
  readonly usage: Usage | null;
  readonly invalid: boolean;
  readonly adjusted: string | null;
}

/** Reads one usage object (a JSON body's, a stream chunk's, a Responses object's). */
export type ReadUsage = (u: unknown) => UsageReading;

/** The canonical usage of what was reported, read with `reading`. */
export function canonical(r: ReportedUsage, reading: Reading): { usage: Usage; adjusted: string | null } {
  const usage = emptyUsage();
  let adjusted: string | null = null;
  usage.output = r.completion;
  usage.cacheRead = r.cacheRead;
  usage.cacheCreation = r.cacheWrite;
  if (r.write5m !== null || r.write1h !== null) {
    // cacheWrite is at least the split's sum, so the 5m part is never below what was reported for it.
    usage.cacheCreation1h = r.write1h ?? 0;
    usage.cacheCreation5m = r.cacheWrite - usage.cacheCreation1h;
  }
  if (r.cacheMiss !== null) usage.input = r.cacheMiss;
  else if (reading === 'anthropic') usage.input = r.prompt;
  else {
    const uncached = r.prompt - r.cacheRead - r.cacheWrite;
    if (uncached < 0) adjusted = CACHE_EXCEEDS_PROMPT;
    usage.input = Math.max(0, uncached);
  }
  return { usage, adjusted };
}

const ABSENT: UsageReading = Object.freeze({ usage: null, invalid: false, adjusted: null });
const INVALID: UsageReading = Object.freeze({ usage: null, invalid: true, adjusted: null });

/**
 * The usage reader of one upstream: `semantics` as configured; under `auto` the proof decides
 * (and learns from every usage read, so one proof must serve every request to that upstream).
 */
export function usageReader(semantics: UsageSemantics, proof: SemanticsProof): ReadUsage {
  return (u) => {
    const check: CountCheck = { invalid: false };
    const r = reportedUsage(u, check);
    if (check.invalid) return INVALID;
    if (r === null) return ABSENT;
    const { usage, adjusted } = canonical(r, semantics === 'auto' ? proof.observe(r) : semantics);
    return { usage, invalid: false, adjusted };
  };
}
