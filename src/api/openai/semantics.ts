/**
 * What an upstream's OpenAI-format prompt count means, proven from its own responses (the
 * `auto` usage semantics). Relays serving Claude in OpenAI format disagree: OpenAI, LiteLLM and
 * OpenRouter count the cached tokens inside `prompt_tokens`; new-api keeps Anthropic's meaning
 * (cache excluded); Portkey excludes them from `prompt_tokens` but includes them in
 * `total_tokens`. Read the wrong way, cache reads are billed twice (as input and as reads) or
 * the input comes out negative: the most reported relay billing bug of 2026.
 *
 * Most responses cannot tell (without cache activity both readings give the same counts), so
 * the proof waits for a signature that only one reading satisfies, then keeps it: an upstream
 * does not change its code between two responses, and a reading that flipped back and forth on
 * ambiguous evidence would bill the same request two ways. Until proven, `openai`: OpenAI's
 * own meaning, and the one a relay that says nothing is most likely to keep. Pure, apart from
 * the state one SemanticsProof holds for one upstream.
 */
import type { ReportedUsage } from './reported.ts';

/** A reading of the prompt count: `openai` includes the cached tokens and cache writes, `anthropic` excludes them. */
export type Reading = 'openai' | 'anthropic';

/** What an upstream's proof stands at, for an admin answer and a metric. */
export interface SemanticsState {
  readonly semantics: Reading;
  /** A response proved it; false: `openai` by default. */
  readonly proven: boolean;
  /** Which signature proved it (a fixed phrase, never a value from a response); null until proven. */
  readonly evidence: string | null;
}

interface Proof {
  readonly semantics: Reading;
  readonly evidence: string;
}

const exclusive = (evidence: string): Proof => ({ semantics: 'anthropic', evidence });

/**
 * What one usage object proves, if anything. The signatures, each satisfied by one reading only:
 * - new-api's `usage_semantic` tag says it outright;
 * - DeepSeek's hit + miss adding up to `prompt_tokens`, with hits: the prompt includes them;
 * - new-api's `claude_cache_creation_*` counts (it fills them for Claude usage only, and keeps
 *   Claude's meaning there); zeros prove nothing, since new-api sends the members for every upstream;
 * - `prompt_tokens` below its own cached tokens and writes: an inclusive count cannot be;
 * - `total_tokens` = prompt + completion + cache, with cache activity: an inclusive prompt
 *   would count the cache twice in it (Portkey's shape);
 * - a positive top-level `input_tokens` beside `prompt_tokens`: Anthropic's word for the uncached
 *   input, which new-api's Claude conversion carries over.
 */
export function proves(r: ReportedUsage): Proof | null {
  if (r.tag === 'anthropic' || r.tag === 'openai') return { semantics: r.tag, evidence: `usage_semantic: ${r.tag}` };
  const cached = r.cacheRead + r.cacheWrite;
  if (r.cacheMiss !== null && r.cacheRead > 0 && r.cacheRead + r.cacheMiss === r.prompt)
    return { semantics: 'openai', evidence: 'prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens' };
  if (r.claudeWrites > 0) return exclusive('claude_cache_creation tokens reported');
  if (r.prompt < cached) return exclusive('prompt_tokens below its cached tokens');
  if (cached > 0 && r.total !== null && r.total === r.prompt + r.completion + cached)
    return exclusive('total_tokens = prompt + completion + cached');
  if (r.claudeInput !== null && r.claudeInput > 0) return exclusive('input_tokens beside prompt_tokens');
  return null;
}

const UNPROVEN: SemanticsState = Object.freeze({ semantics: 'openai', proven: false, evidence: null });

/**
 * One upstream's proof, long-lived (built with the upstream, passed to its dialect): every usage
 * read under `auto` goes through observe(), and the first signature decides for good.
 */
export class SemanticsProof {
  #state: SemanticsState = UNPROVEN;

  get state(): SemanticsState {
    return this.#state;
  }

  /** The reading for one usage object: what this upstream proved (this usage may be the proof), else `openai`. */
  observe(r: ReportedUsage): Reading {
    if (!this.#state.proven) {
      const p = proves(r);
      if (p !== null) this.#state = Object.freeze({ semantics: p.semantics, proven: true, evidence: p.evidence });
    }
    return this.#state.semantics;
  }
}
