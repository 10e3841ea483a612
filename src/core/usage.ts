/**
 * Token usage of one request, by billing kind.
 *
 * Protocol facts encoded here (see README "Metering rules"):
 * - `input` excludes cached tokens; total prompt = input + cacheCreation + cacheRead.
 * - `cacheCreation` is all TTLs together; the 5m/1h split exists only on the full Usage
 *   object (JSON body or message_start), so the split fields can be null.
 * - `output` includes thinking tokens.
 */
export interface Usage {
  input: number;
  output: number;
  cacheCreation: number;
  /** Portion of cacheCreation written with the 5-minute TTL, when the upstream reports the split. */
  cacheCreation5m: number | null;
  /** Portion of cacheCreation written with the 1-hour TTL, when the upstream reports the split. */
  cacheCreation1h: number | null;
  cacheRead: number;
  webSearchRequests: number;
  webFetchRequests: number;
  /** `standard` | `priority` | `batch` | null */
  serviceTier: string | null;
  /** e.g. `us`, `global`, or null */
  inferenceGeo: string | null;
  /** `standard` | `fast` | null (beta) */
  speed: string | null;
}

/**
 * The token kinds claude-meter aggregates, by billing rate: store counters, the metrics'
 * `kind` label and their order (input, output, cache writes by TTL, cache reads).
 */
export const TOKEN_KINDS = ['input', 'output', 'cache_creation_5m', 'cache_creation_1h', 'cache_read'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** Why a response carries no usage we can bill. Never silently $0. */
export type UsageMissingReason =
  | 'error_status' // upstream answered non-2xx
  | 'no_usage_field' // 2xx body without a usage object (legacy /v1/complete, unknown shape)
  | 'unparseable_body' // body was not JSON / SSE we understand
  | 'stream_incomplete' // a stream without its opening event: it ended before one, or never sent one
  | 'upstream_unreachable' // we never got a response
  | 'client_gone' // the client left before the response headers (recorded with status 499, not an upstream failure)
  | 'not_metered_endpoint' // a path that carries no usage by design (GET /v1/models …)
  | 'body_too_large' // JSON body exceeded the tap's inspection bound
  | 'refused_by_budget' // we answered 429 ourselves: a budget was exhausted, nothing was forwarded
  | 'budget_store_unreachable' // we answered 503: a fail-closed budget could not be checked
  | 'ambiguous_request' // we answered 400: the body names the model twice with different values, nothing was forwarded
  | 'invalid_usage' // usage was reported but cannot be trusted: a count that is not a count, a cumulative count that went down, two opening events
  | 'decompression_limit' // the decoded copy of a compressed body passed its size or expansion bound
  | 'batch_results_unseen'; // a Message Batch expired with no results read: its budget hold became spend at its estimate

/**
 * Reasons after which the upstream may still have billed the request (a 2xx whose usage we could
 * not read): budgets count the request's reservation for it rather than $0. The others billed
 * nothing (an error status, no response, refused by us) or are never metered.
 */
const BILLED_UNREAD: ReadonlySet<UsageMissingReason> = new Set<UsageMissingReason>([
  'no_usage_field',
  'unparseable_body',
  'stream_incomplete',
  'body_too_large',
  'invalid_usage',
  'batch_results_unseen',
  'decompression_limit',
]);

export function mayBeBilled(reason: UsageMissingReason): boolean {
  return BILLED_UNREAD.has(reason);
}

/** A count is a non-negative safe integer: a JSON string, a fraction, a negative or a number past 2^53 is not one. */
export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The tokens of every kind together (what token limits count); null past 2^53, which no real request reaches. */
export function totalTokens(u: Usage): number | null {
  const n = u.input + u.output + u.cacheCreation + u.cacheRead;
  return Number.isSafeInteger(n) ? n : null;
}

export interface UsageOutcome {
  /** Null when no usage could be read; then `missingReason` says why. */
  usage: Usage | null;
  /** Model as the response reported it (falls back to the request's model upstream of this). */
  model: string | null;
  missingReason: UsageMissingReason | null;
  /** True when the usage is what was seen before the stream ended early (client abort, upstream cut, error event). */
  partial: boolean;
  /**
   * True when `usage.output` is an estimate: a stream cut short before its final count, whose
   * output is estimated from the content it streamed (never below the count last reported).
   * A stream cut before it reported any usage (OpenAI-format streams report it last) has its
   * input estimated too, from the request's size.
   */
  estimated: boolean;
  /** `error.type` of an `event: error` mid-stream or an error body, when present. */
  errorType: string | null;
  stopReason: string | null;
  /** Anthropic message id, when present. */
  messageId: string | null;
  /**
   * Why the dialect clamped inconsistently reported usage so no count is negative (BodyReading.adjusted),
   * or null when the usage is as reported (and whenever there is no usage).
   */
  adjusted: string | null;
}

/**
 * What an OpenAI-format `prompt_tokens` (or a Responses `input_tokens`) means at an upstream:
 * `openai` includes the cached tokens and cache writes (OpenAI, LiteLLM, OpenRouter);
 * `anthropic` excludes them (new-api serving Claude, Portkey); `auto` decides from what the
 * responses prove, and reads `openai` until then. The config's `usage_semantics`.
 */
export type UsageSemantics = 'openai' | 'anthropic' | 'auto';

export function emptyUsage(): Usage {
  return {
    input: 0,
    output: 0,
    cacheCreation: 0,
    cacheCreation5m: null,
    cacheCreation1h: null,
    cacheRead: 0,
    webSearchRequests: 0,
    webFetchRequests: 0,
    serviceTier: null,
    inferenceGeo: null,
    speed: null,
  };
}
