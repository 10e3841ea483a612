/**
 * Anthropic Messages API usage: parsing and the streaming merge rule. Pure functions, no I/O.
 *
 * Protocol facts (Anthropic's Messages API and streaming documentation):
 * - The full Usage object (non-streaming body, or `message_start.message.usage`) carries the
 *   input/cache counters, the 5m/1h cache-write split, service_tier and inference_geo.
 *   Its `output_tokens` is a placeholder while streaming.
 * - `message_delta.usage` values are CUMULATIVE whole-message totals. `output_tokens` is
 *   always sent; every other counter is omitted (or null) when it does not apply. So:
 *   overwrite when present, never add, and never read "absent" as 0. Getting this wrong is
 *   the classic metering bug (input zeroed by the final delta; deltas summed twice).
 * - `server_tool_use` is an open map: known keys are read, unknown ones are tolerated.
 *
 * Validation: a counter that is present must be a count (a non-negative safe integer). A JSON
 * string, a fraction, a negative number or one past 2^53 is not read as 0 or as absent: the
 * reading is marked invalid, and the tap records the response as `invalid_usage`.
 */
import { bounded } from '../../core/bound.ts';
import { emptyUsage, isCount, type Usage } from '../../core/usage.ts';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a reading notes a counter that was present but not a count. */
export interface CountCheck {
  invalid: boolean;
}

/** Absent (undefined or null) is "not reported"; anything else must be a count, or `check` is marked invalid. */
function counter(v: unknown, check: CountCheck): number | null {
  if (v === undefined || v === null) return null;
  if (isCount(v)) return v;
  check.invalid = true;
  return null;
}

/** A name the response gives (model, id, error type, tier), bounded: each becomes a record and log field. */
export function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? bounded(v) : null;
}

/**
 * Rule for the 5m/1h split, which the pricer relies on: when the split is known,
 * `cacheCreation5m + cacheCreation1h === cacheCreation`, always.
 *
 * The split is reported only by the full Usage object, where it must agree with the total
 * (splitFits; otherwise the usage is invalid), but a later message_delta may move the
 * total (several sampling passes with server tools). The moved amount has no TTL on record, so
 * it is attributed to the 5m part (the default TTL), i.e. the difference is billed at the 5m
 * write rate; the 1h part stays as reported. If the total falls
 * below the reported 1h part, no consistent split exists: both become null and the pricer
 * bills the whole total at the 5m rate.
 */
export function reconcileCacheSplit(total: number, split5m: number | null, split1h: number | null): [number | null, number | null] {
  if (split5m === null && split1h === null) return [null, null];
  const s5 = split5m ?? 0;
  const s1 = split1h ?? 0;
  if (s5 + s1 === total) return [s5, s1];
  if (total >= s1) return [total - s1, s1];
  return [null, null];
}

/**
 * Whether a full Usage object's split agrees with its total. Parts above the total, or both
 * parts reported and summing below it, are a contradiction no reading can bill from: which
 * figure the upstream billed is unknown. One part alone leaves the other as the remainder.
 */
function splitFits(total: number, split5m: number | null, split1h: number | null): boolean {
  if (split5m === null && split1h === null) return true;
  const parts = (split5m ?? 0) + (split1h ?? 0);
  return parts === total || (parts < total && (split5m === null || split1h === null));
}

/** Reads the counters of a `server_tool_use` map into `u` (overwriting only those present). */
function applyServerToolUse(u: Usage, stu: unknown, check: CountCheck): void {
  if (!isRecord(stu)) return;
  const search = counter(stu.web_search_requests, check);
  if (search !== null) u.webSearchRequests = search;
  const fetch = counter(stu.web_fetch_requests, check);
  if (fetch !== null) u.webFetchRequests = fetch;
}

/** Price modifiers: overwritten only by a non-empty string. */
function applyModifiers(u: Usage, o: Record<string, unknown>): void {
  u.serviceTier = text(o.service_tier) ?? u.serviceTier;
  u.inferenceGeo = text(o.inference_geo) ?? u.inferenceGeo;
  u.speed = text(o.speed) ?? u.speed;
}

/**
 * Parses a full Usage object. Null when `u` is not an object or carries neither
 * `input_tokens` nor `output_tokens` (then it is not a usage object we can bill from).
 * A counter that is present but not a count marks `check` invalid (and is not read).
 */
export function usageFromObject(u: unknown, check: CountCheck = { invalid: false }): Usage | null {
  if (!isRecord(u)) return null;
  const input = counter(u.input_tokens, check);
  const output = counter(u.output_tokens, check);
  const usage = emptyUsage();
  usage.cacheRead = counter(u.cache_read_input_tokens, check) ?? 0;
  let s5: number | null = null;
  let s1: number | null = null;
  if (isRecord(u.cache_creation)) {
    s5 = counter(u.cache_creation.ephemeral_5m_input_tokens, check);
    s1 = counter(u.cache_creation.ephemeral_1h_input_tokens, check);
  }
  // Older payloads have no total next to the split; the total is then the split's sum.
  usage.cacheCreation = counter(u.cache_creation_input_tokens, check) ?? (s5 ?? 0) + (s1 ?? 0);
  if (!splitFits(usage.cacheCreation, s5, s1)) check.invalid = true;
  applyServerToolUse(usage, u.server_tool_use, check);
  if (input === null && output === null) return null;
  usage.input = input ?? 0;
  usage.output = output ?? 0;
  [usage.cacheCreation5m, usage.cacheCreation1h] = reconcileCacheSplit(usage.cacheCreation, s5, s1);
  applyModifiers(usage, u);
  return usage;
}

/**
 * Applies one `message_delta.usage` to the running usage and returns the new value
 * (`current` is not mutated). Cumulative semantics: overwrite what is present, never add.
 * A delta carries no cache split; see reconcileCacheSplit for how the split follows the total.
 */
export function mergeDelta(current: Usage, delta: unknown, check: CountCheck = { invalid: false }): Usage {
  const next: Usage = { ...current };
  if (!isRecord(delta)) return next;
  next.output = counter(delta.output_tokens, check) ?? next.output;
  next.input = counter(delta.input_tokens, check) ?? next.input;
  next.cacheRead = counter(delta.cache_read_input_tokens, check) ?? next.cacheRead;
  const cc = counter(delta.cache_creation_input_tokens, check);
  if (cc !== null && cc !== current.cacheCreation) {
    next.cacheCreation = cc;
    [next.cacheCreation5m, next.cacheCreation1h] = reconcileCacheSplit(cc, current.cacheCreation5m, current.cacheCreation1h);
  }
  applyServerToolUse(next, delta.server_tool_use, check);
  // Not part of MessageDeltaUsage, but Anthropic-compatible relays may send them: same rule.
  applyModifiers(next, delta);
  return next;
}

/** What a non-streaming Messages response body tells us. */
export interface MessageBodyInfo {
  /** Null when absent, and when invalid. */
  usage: Usage | null;
  /** The usage object held a counter that is not a count. */
  invalid: boolean;
  model: string | null;
  messageId: string | null;
  stopReason: string | null;
}

/** Reads a non-streaming `Message` JSON body. Fields that are missing or malformed are null. */
export function parseMessageBody(body: unknown): MessageBodyInfo {
  if (!isRecord(body)) return { usage: null, invalid: false, model: null, messageId: null, stopReason: null };
  const check = { invalid: false };
  const usage = usageFromObject(body.usage, check);
  return {
    usage: check.invalid ? null : usage,
    invalid: check.invalid,
    model: text(body.model),
    messageId: text(body.id),
    stopReason: text(body.stop_reason),
  };
}

/** `error.type` of an error body `{type:"error", error:{type, message}}` (or an `event: error` payload). */
export function parseErrorBody(body: unknown): string | null {
  if (!isRecord(body) || !isRecord(body.error)) return null;
  return text(body.error.type);
}
