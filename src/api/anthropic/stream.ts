/**
 * The streaming side of Anthropic usage: folds the events of one Messages stream, following
 * the SDK's MessageStream. Pure, no I/O. The parsing and merge rules are in usage.ts.
 */
import { emptyUsage, isCount, type Usage } from '../../core/usage.ts';
import { type CountCheck, isRecord, mergeDelta, parseErrorBody, parseMessageBody, text } from './usage.ts';

/** Things the accumulator tolerated or flagged, for logs and metrics. */
export type UsageAnomaly =
  | 'delta_before_start' // message_delta with no message_start before it: seeded from zero
  | 'duplicate_message_start' // a second message_start: the usage is invalid
  | 'cache_total_changed' // a delta moved cache_creation_input_tokens after the split was known
  | 'unparseable_event' // a usage-bearing event whose data was not a JSON object
  | 'start_without_usage' // message_start without a usage object
  | 'invalid_count' // a counter present but not a count: the usage is invalid
  | 'output_decreased' // a message_delta's cumulative output_tokens below an earlier delta's: the usage is invalid
  | 'count_decreased'; // a message_delta's cumulative input, cache or server-tool count below what was known: the usage is invalid

/**
 * The smallest `content_block_delta` envelope, `{"type":"content_block_delta","index":0,
 * "delta":{"type":"text_delta","text":""}}`: an event's data length minus this is at least the
 * characters of text, thinking or tool input it carried (escapes and longer envelopes count extra).
 */
const DELTA_ENVELOPE_CHARS = 80;

/**
 * Characters per output token for the estimate of a stream cut short. English prose and code
 * run 3.5 to 4.5 characters a token, so 3 errs high: a budget is better charged a little more
 * than the stream cost than less. Only text denser than 3 characters a token (CJK, long runs
 * of digits or symbols) is undercounted.
 */
export const CHARS_PER_TOKEN = 3;

/**
 * Whether a cumulative counter other than output went down from `before` to `after`: a
 * message_delta reports whole-message totals, so a lower one contradicts what was billed before
 * it (input 0 after a message_start of 100,000 would price the input at $0). Output is checked
 * against the previous delta only, since message_start's output is a placeholder.
 */
function decreased(before: Usage, after: Usage): boolean {
  const lower = (b: number | null, a: number | null): boolean => b !== null && a !== null && a < b;
  return (
    lower(before.input, after.input) ||
    lower(before.cacheRead, after.cacheRead) ||
    lower(before.cacheCreation, after.cacheCreation) ||
    lower(before.cacheCreation5m, after.cacheCreation5m) ||
    lower(before.cacheCreation1h, after.cacheCreation1h) ||
    lower(before.webSearchRequests, after.webSearchRequests) ||
    lower(before.webFetchRequests, after.webFetchRequests)
  );
}

/**
 * Folds the events of one Messages stream into usage, following the SDK's MessageStream:
 * message_start seeds, message_delta merges (cumulative), message_stop after a message_delta
 * completes. ping, content blocks and unknown event types carry no usage and are ignored (new
 * event types may be added at any time, per Anthropic's versioning policy); content deltas
 * are counted by size only (onContent), for the estimate of a stream cut short.
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
  readonly #check: CountCheck = { invalid: false };
  /** Latest raw `message_delta.usage`: replayed over a late message_start; without one the output count is not final. */
  #lastDelta: unknown = undefined;
  /** output_tokens of the latest message_delta: cumulative, so a later delta never reports less. */
  #deltaOutput = 0;
  /** Characters of content streamed since the usage was last reported (content_block_delta events, envelope excluded). */
  #streamedChars = 0;

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

  /** A content_block_delta, not parsed, by its data's length: what the output estimate is made of. */
  onContent(length: number): void {
    if (length > DELTA_ENVELOPE_CHARS) this.#streamedChars += length - DELTA_ENVELOPE_CHARS;
  }

  #onStart(data: unknown): void {
    if (!isRecord(data) || !isRecord(data.message)) {
      this.anomalies.add('unparseable_event');
      return;
    }
    if (this.#started) {
      // Two messages in one stream: which one (or both) the upstream billed is unknown.
      this.#flagInvalid('duplicate_message_start');
      return;
    }
    this.#started = true;
    const info = parseMessageBody(data.message);
    this.#model = info.model;
    this.#messageId = info.messageId;
    if (info.invalid) this.#flagInvalid('invalid_count');
    else if (info.usage === null) this.anomalies.add('start_without_usage');
    else if (this.#lastDelta === undefined) this.#usage = info.usage;
    // Out of order: the delta's totals are cumulative, so re-apply the latest one over the seed.
    else {
      this.#usage = mergeDelta(info.usage, this.#lastDelta);
      if (decreased(info.usage, this.#usage)) this.#flagInvalid('count_decreased');
    }
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
    // A delta's output_tokens counts everything streamed before it: only what follows is estimated.
    this.#streamedChars = 0;
    const before = this.#usage;
    const check = { invalid: false };
    this.#usage = mergeDelta(before, data.usage, check);
    if (check.invalid) this.#flagInvalid('invalid_count');
    const output = data.usage.output_tokens;
    if (isCount(output)) {
      // Compared with the previous delta only: message_start's output_tokens is a placeholder.
      if (output < this.#deltaOutput) this.#flagInvalid('output_decreased');
      this.#deltaOutput = output;
    }
    if (decreased(before, this.#usage)) this.#flagInvalid('count_decreased');
    const hadSplit = before.cacheCreation5m !== null || before.cacheCreation1h !== null;
    if (hadSplit && this.#usage.cacheCreation !== before.cacheCreation) this.anomalies.add('cache_total_changed');
  }

  #flagInvalid(why: UsageAnomaly): void {
    this.anomalies.add(why);
    this.#check.invalid = true;
  }

  get usage(): Usage | null {
    return this.#usage === null ? null : { ...this.#usage };
  }
  /** The stream reported usage that cannot be trusted (see UsageAnomaly): no usage should be billed from it. */
  get invalid(): boolean {
    return this.#check.invalid;
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
  /** message_stop was seen, after a message_delta with usage (the final output count): the usage is final. */
  get complete(): boolean {
    return this.#stopped && this.#lastDelta !== undefined;
  }
  /**
   * Output tokens streamed since the usage last reported them, by estimate: characters of
   * content ÷ CHARS_PER_TOKEN, rounded up. The output count reported (message_start's
   * placeholder, or the latest message_delta's cumulative count) plus this is the estimate of
   * a stream cut short.
   */
  get streamedOutput(): number {
    return Math.ceil(this.#streamedChars / CHARS_PER_TOKEN);
  }
}
