/**
 * What one OpenAI-format usage object reports, every relay's spelling read, before the
 * semantics (semantics.ts) say what its prompt count contains. Pure.
 *
 * The spellings (a relay may send several of them, usually with the same value):
 * - prompt: `prompt_tokens` (chat, completions, embeddings), the Responses API's `input_tokens`;
 * - output: `completion_tokens` or the Responses API's `output_tokens`; reasoning tokens are
 *   inside it (`completion_tokens_details.reasoning_tokens` is a breakdown, never added);
 * - cache reads: `prompt_tokens_details.cached_tokens` (OpenAI, OpenRouter, LiteLLM, new-api),
 *   `input_tokens_details.cached_tokens` (Responses), `cache_read_input_tokens` (LiteLLM, Portkey),
 *   `prompt_cache_hit_tokens` (DeepSeek);
 * - cache writes: `prompt_tokens_details.cache_write_tokens` (OpenAI gpt-5.6+, OpenRouter),
 *   `input_tokens_details.cache_write_tokens` (Responses), `prompt_tokens_details.cached_creation_tokens`
 *   (new-api), `prompt_tokens_details.cache_creation_tokens` (LiteLLM), `cache_creation_input_tokens`
 *   (LiteLLM, Portkey), and the TTL split: LiteLLM's `cache_creation_token_details.ephemeral_{5m,1h}_input_tokens`,
 *   new-api's `claude_cache_creation_{5_m,1_h}_tokens`;
 * - DeepSeek's `prompt_cache_miss_tokens` is the uncached input itself.
 * Spellings of one count are combined by their maximum: new-api, for one, sends every member of
 * its struct, so a 0 beside a positive count is a member it did not fill, not a contradiction.
 * `cost` (OpenRouter) and every other member are not read.
 *
 * Validation as in api/anthropic/usage.ts: a counter that is present (not null) must be a count,
 * or the reading is invalid.
 */
import { bounded } from '../../core/bound.ts';
import { isCount } from '../../core/usage.ts';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A name the response gives (model, id, error type, tier), bounded: each becomes a record and log field. */
export function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? bounded(v) : null;
}

/** Where a reading notes a counter that was present but not a count. */
export interface CountCheck {
  invalid: boolean;
}

export interface ReportedUsage {
  /** The prompt, as the upstream counts it: with or without its cached part, as the semantics say. */
  readonly prompt: number;
  /** Output, reasoning included. */
  readonly completion: number;
  readonly total: number | null;
  /** Cache reads (0 when none is reported). */
  readonly cacheRead: number;
  /** Cache writes, every TTL; never below the split's sum. */
  readonly cacheWrite: number;
  /** The TTL split of the writes, when the upstream reports one (either part may be missing). */
  readonly write5m: number | null;
  readonly write1h: number | null;
  /** DeepSeek's `prompt_cache_miss_tokens`: the uncached input, whatever the semantics. */
  readonly cacheMiss: number | null;
  /** new-api's `usage_semantic` tag (`anthropic` or `openai`), when it sends one. */
  readonly tag: string | null;
  /** A top-level `input_tokens` beside `prompt_tokens`: Anthropic's word, which a Claude relay copies. */
  readonly claudeInput: number | null;
  /** new-api's `claude_cache_creation_{5_m,1_h}_tokens` together (0 when absent). */
  readonly claudeWrites: number;
}

const NONE: Record<string, unknown> = Object.freeze({});

function counter(v: unknown, check: CountCheck): number | null {
  if (v === undefined || v === null) return null;
  if (isCount(v)) return v;
  check.invalid = true;
  return null;
}

function record(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : NONE;
}

/** The largest of the counts given, null when none is. */
function most(...counts: (number | null)[]): number | null {
  let m: number | null = null;
  for (const c of counts) if (c !== null && (m === null || c > m)) m = c;
  return m;
}

/**
 * Reads a usage object. Null when `u` is not an object or counts neither a prompt nor an output
 * (then it is not a usage object we can bill from). A counter present but not a count marks
 * `check` invalid.
 */
export function reportedUsage(u: unknown, check: CountCheck): ReportedUsage | null {
  if (!isRecord(u)) return null;
  const c = (v: unknown): number | null => counter(v, check);
  const pd = record(u.prompt_tokens_details);
  const id = record(u.input_tokens_details);
  const ccd = record(u.cache_creation_token_details);
  const promptTokens = c(u.prompt_tokens);
  const inputTokens = c(u.input_tokens);
  const prompt = promptTokens ?? inputTokens;
  const completion = c(u.completion_tokens) ?? c(u.output_tokens);
  const claude5m = c(u.claude_cache_creation_5_m_tokens);
  const claude1h = c(u.claude_cache_creation_1_h_tokens);
  const write5m = c(ccd.ephemeral_5m_input_tokens) ?? claude5m;
  const write1h = c(ccd.ephemeral_1h_input_tokens) ?? claude1h;
  const split = write5m === null && write1h === null ? null : (write5m ?? 0) + (write1h ?? 0);
  const cacheRead = most(c(pd.cached_tokens), c(id.cached_tokens), c(u.cache_read_input_tokens), c(u.prompt_cache_hit_tokens));
  const cacheWrite = most(
    c(pd.cache_write_tokens),
    c(id.cache_write_tokens),
    c(pd.cached_creation_tokens),
    c(pd.cache_creation_tokens),
    c(pd.cache_creation_input_tokens),
    c(u.cache_creation_input_tokens),
    split,
  );
  const total = c(u.total_tokens);
  const cacheMiss = c(u.prompt_cache_miss_tokens);
  if (prompt === null && completion === null) return null;
  return {
    prompt: prompt ?? 0,
    completion: completion ?? 0,
    total,
    cacheRead: cacheRead ?? 0,
    cacheWrite: cacheWrite ?? 0,
    write5m,
    write1h,
    cacheMiss,
    tag: text(u.usage_semantic),
    claudeInput: promptTokens === null ? null : inputTokens,
    claudeWrites: (claude5m ?? 0) + (claude1h ?? 0),
  };
}
