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
 */
import { bounded } from '../../core/bound.ts';
import { emptyUsage, type Usage } from '../../core/usage.ts';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A token counter is a non-negative integer; anything else (absent, null, garbage) is "not reported". */
function counter(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/** A name the response gives (model, id, error type, tier), bounded: each becomes a record and log field. */
function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? bounded(v) : null;
}

/**
 * Rule for the 5m/1h split, which the pricer relies on: when the split is known,
 * `cacheCreation5m + cacheCreation1h === cacheCreation`, always.
 *
 * The split is reported only by the full Usage object, but a later message_delta may move the
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

/** Reads the counters of a `server_tool_use` map into `u` (overwriting only those present). */
function applyServerToolUse(u: Usage, stu: unknown): void {
  if (!isRecord(stu)) return;
  const search = counter(stu.web_search_requests);
  if (search !== null) u.webSearchRequests = search;
  const fetch = counter(stu.web_fetch_requests);
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
 */
export function usageFromObject(u: unknown): Usage | null {
  if (!isRecord(u)) return null;
  const input = counter(u.input_tokens);
  const output = counter(u.output_tokens);
  if (input === null && output === null) return null;
  const usage = emptyUsage();
  usage.input = input ?? 0;
  usage.output = output ?? 0;
  usage.cacheRead = counter(u.cache_read_input_tokens) ?? 0;
  let s5: number | null = null;
  let s1: number | null = null;
  if (isRecord(u.cache_creation)) {
    s5 = counter(u.cache_creation.ephemeral_5m_input_tokens);
    s1 = counter(u.cache_creation.ephemeral_1h_input_tokens);
  }
  // Older payloads have no total next to the split; the total is then the split's sum.
  usage.cacheCreation = counter(u.cache_creation_input_tokens) ?? (s5 ?? 0) + (s1 ?? 0);
  [usage.cacheCreation5m, usage.cacheCreation1h] = reconcileCacheSplit(usage.cacheCreation, s5, s1);
  applyServerToolUse(usage, u.server_tool_use);
  applyModifiers(usage, u);
  return usage;
}

/**
 * Applies one `message_delta.usage` to the running usage and returns the new value
 * (`current` is not mutated). Cumulative semantics: overwrite what is present, never add.
 * A delta carries no cache split; see reconcileCacheSplit for how the split follows the total.
 */
export function mergeDelta(current: Usage, delta: unknown): Usage {
  const next: Usage = { ...current };
  if (!isRecord(delta)) return next;
  next.output = counter(delta.output_tokens) ?? next.output;
  next.input = counter(delta.input_tokens) ?? next.input;
  next.cacheRead = counter(delta.cache_read_input_tokens) ?? next.cacheRead;
  const cc = counter(delta.cache_creation_input_tokens);
  if (cc !== null && cc !== current.cacheCreation) {
    next.cacheCreation = cc;
    [next.cacheCreation5m, next.cacheCreation1h] = reconcileCacheSplit(cc, current.cacheCreation5m, current.cacheCreation1h);
  }
  applyServerToolUse(next, delta.server_tool_use);
  // Not part of MessageDeltaUsage, but Anthropic-compatible relays may send them: same rule.
  applyModifiers(next, delta);
  return next;
}

/** What a non-streaming Messages response body tells us. */
export interface MessageBodyInfo {
  usage: Usage | null;
  model: string | null;
  messageId: string | null;
  stopReason: string | null;
}

/** Reads a non-streaming `Message` JSON body. Fields that are missing or malformed are null. */
export function parseMessageBody(body: unknown): MessageBodyInfo {
  if (!isRecord(body)) return { usage: null, model: null, messageId: null, stopReason: null };
  return {
    usage: usageFromObject(body.usage),
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

/** Things the accumulator tolerated but that deserve a log line or a metric. */
export type UsageAnomaly =
  | 'delta_before_start' // message_delta with no message_start before it: seeded from zero
  | 'duplicate_message_start' // a second message_start: ignored
  | 'cache_total_changed' // a delta moved cache_creation_input_tokens after the split was known
  | 'unparseable_event' // a usage-bearing event whose data was not a JSON object
  | 'start_without_usage'; // message_start without a usage object

/**
 * Folds the events of one Messages stream into usage, following the SDK's MessageStream:
 * message_start seeds, message_delta merges (cumulative), message_stop completes.
 * ping, content blocks and unknown event types carry no usage and are ignored (new event
 * types may be added at any time, per Anthropic's versioning policy).
 */
export class MessageUsageAccumulator {
  readonly anomalies = new Set<UsageAnomaly>();
  #usage: Usage | null = null;
  #model: string | null = null;
  #messageId: string | null = null;
  #stopReason: string | null = null;
  #errorType: string | null = null;
  #started = false;
  #stopped = false;
  /** Latest raw `message_delta.usage`, kept only to replay it over a late message_start. */
  #lastDelta: unknown = undefined;

  /** `name` is the SSE `event:` field (null when absent: then the JSON `type` is used). */
  onEvent(name: string | null, data: unknown): void {
    const type = name ?? (isRecord(data) ? text(data.type) : null);
    switch (type) {
      case 'message_start':
        this.#onStart(data);
        return;
      case 'message_delta':
        this.#onDelta(data);
        return;
      case 'message_stop':
        this.#stopped = true;
        return;
      case 'error':
        // A mid-stream error arrives after HTTP 200; no message_stop follows.
        this.#errorType = parseErrorBody(data) ?? 'unknown';
        return;
      default:
        return;
    }
  }

  #onStart(data: unknown): void {
    if (!isRecord(data) || !isRecord(data.message)) {
      this.anomalies.add('unparseable_event');
      return;
    }
    if (this.#started) {
      this.anomalies.add('duplicate_message_start');
      return;
    }
    this.#started = true;
    const info = parseMessageBody(data.message);
    this.#model = info.model;
    this.#messageId = info.messageId;
    if (info.usage === null) this.anomalies.add('start_without_usage');
    else if (this.#lastDelta === undefined) this.#usage = info.usage;
    // Out of order: the delta's totals are cumulative, so re-apply the latest one over the seed.
    else this.#usage = mergeDelta(info.usage, this.#lastDelta);
  }

  #onDelta(data: unknown): void {
    if (!isRecord(data)) {
      this.anomalies.add('unparseable_event');
      return;
    }
    if (isRecord(data.delta)) this.#stopReason = text(data.delta.stop_reason) ?? this.#stopReason;
    if (!isRecord(data.usage)) return;
    if (this.#usage === null) {
      if (!this.#started) this.anomalies.add('delta_before_start');
      this.#usage = emptyUsage();
    }
    this.#lastDelta = data.usage;
    const before = this.#usage;
    this.#usage = mergeDelta(before, data.usage);
    const hadSplit = before.cacheCreation5m !== null || before.cacheCreation1h !== null;
    if (hadSplit && this.#usage.cacheCreation !== before.cacheCreation) this.anomalies.add('cache_total_changed');
  }

  get usage(): Usage | null {
    return this.#usage === null ? null : { ...this.#usage };
  }
  get model(): string | null {
    return this.#model;
  }
  get messageId(): string | null {
    return this.#messageId;
  }
  get stopReason(): string | null {
    return this.#stopReason;
  }
  /** `error.type` of an `event: error`, if one arrived. */
  get errorType(): string | null {
    return this.#errorType;
  }
  get started(): boolean {
    return this.#started;
  }
  /** message_stop was seen: the usage is final. */
  get complete(): boolean {
    return this.#stopped;
  }
}
