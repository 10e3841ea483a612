/**
 * The streaming side of OpenAI-format usage: folds one stream, chat chunks or Responses events,
 * into its usage. Pure, no I/O.
 *
 * Chat completions (and legacy completions) stream unnamed `data:` chunks and end with
 * `data: [DONE]`. Usage comes once, last: on an extra chunk whose `choices` is empty (asked by
 * `stream_options.include_usage`, or sent unasked by new-api and OpenRouter), or on the last
 * content chunk (Portkey); every other chunk has `"usage":null` or none. A relay that repeats a
 * running total on every chunk is read like Anthropic's deltas: the latest wins, never summed,
 * and a count that goes down makes the usage invalid. Content chunks are not parsed
 * (onUnnamed, chunk-text.ts).
 *
 * Responses streams name their events; the usage rides on the terminal one's `response`
 * (`response.completed`, `response.incomplete`, `response.failed`).
 *
 * Cut short before its usage (the usual way such a stream ends early), a stream's usage is an
 * estimate: the input from the request's size, the output from the content streamed, both at
 * CHARS_PER_TOKEN, flagged `estimated`.
 */
import type { StreamReading } from '../../core/dialect.ts';
import type { RequestFacts } from '../../core/request.ts';
import { emptyUsage, type Usage } from '../../core/usage.ts';
import { readError, responseStop } from './body.ts';
import { CHAT_TEXT, COMPLETION_TEXT, chunkText, deltaText, PARSE } from './chunk-text.ts';
import { isRecord, text } from './reported.ts';
import type { ReadUsage } from './usage.ts';

/** Things the reading tolerated or flagged, for logs and metrics. */
export type StreamAnomaly =
  | 'unparseable_event' // an event parsed for its usage whose data was not a JSON object
  | 'invalid_count' // a counter present but not a count: the usage is invalid
  | 'count_decreased' // a later usage lowered a count an earlier one reported: the usage is invalid
  | 'duplicate_start'; // a second response.created: which response was billed is unknown, the usage is invalid

/**
 * Characters per token of the estimates, the rate api/anthropic/stream.ts uses and for the same
 * reason: prose and code run 3.5 to 4.5 characters a token, so 3 errs high. A request body's
 * bytes are its characters plus JSON's own, which errs higher still.
 */
export const CHARS_PER_TOKEN = 3;

/** The smallest Responses delta event without its text (`{"type":"response.output_text.delta","delta":""}` and ids): an oversized one, kept by size only, counts its length past this. */
const DELTA_ENVELOPE_CHARS = 100;

const DONE = '[DONE]';

/** Responses events that end the response and carry its usage. */
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

export class OpenAiStreamReading implements StreamReading {
  readonly anomalies = new Set<StreamAnomaly>();
  readonly #read: ReadUsage;
  /** The request body's size, for the input estimate of a stream cut before its usage; null: unknown, no estimate. */
  readonly #requestBytes: number | null;
  #usage: Usage | null = null;
  #adjusted: string | null = null;
  #invalid = false;
  #model: string | null = null;
  #messageId: string | null = null;
  #stopReason: string | null = null;
  #errorType: string | null = null;
  #started = false;
  #created = false;
  /** `[DONE]` or a terminal Responses event. */
  #ended = false;
  /** A chat choice finished (a non-null `finish_reason`). */
  #finished = false;
  /** Legacy completion chunks: their text is `choices[].text`. */
  #completion = false;
  /** Characters of content streamed since the usage was last reported. */
  #streamedChars = 0;

  constructor(read: ReadUsage, request: RequestFacts | null) {
    this.#read = read;
    this.#requestBytes = request === null ? null : request.bytes;
  }

  onUnnamed(data: string): boolean {
    if (data === DONE) {
      this.#ended = true;
      return false;
    }
    if (!this.#started) return true;
    const chars = chunkText(data, this.#completion ? COMPLETION_TEXT : CHAT_TEXT);
    if (chars === PARSE) return true;
    this.#streamedChars += chars;
    return false;
  }

  onContent(length: number, data?: string): void {
    // OpenAI pads delta events to hide their size (`obfuscation`): the delta's own text is what counts.
    this.#streamedChars += data === undefined ? Math.max(0, length - DELTA_ENVELOPE_CHARS) : deltaText(data);
  }

  onEvent(name: string | null, data: unknown): void {
    if (!isRecord(data)) {
      this.anomalies.add('unparseable_event');
      return;
    }
    const type = name ?? text(data.type);
    if (type === 'error') this.#errorType = readError(data) ?? 'unknown';
    else if (type?.startsWith('response.')) this.#onResponseEvent(type, data);
    else this.#onChunk(data);
  }

  #onChunk(chunk: Record<string, unknown>): void {
    if (chunk.error !== undefined && chunk.error !== null) {
      // A relay's error mid-stream, after HTTP 200, in the shape of an error body.
      this.#errorType = readError(chunk) ?? 'unknown';
      return;
    }
    this.#started = true;
    this.#model ??= text(chunk.model);
    this.#messageId ??= text(chunk.id);
    if (chunk.object === 'text_completion') this.#completion = true;
    if (Array.isArray(chunk.choices))
      for (const choice of chunk.choices) {
        if (!isRecord(choice)) continue;
        this.#streamedChars += this.#completion ? length(choice.text) : deltaChars(choice.delta);
        const finish = text(choice.finish_reason);
        if (finish !== null) {
          this.#stopReason = finish;
          this.#finished = true;
        }
      }
    if (isRecord(chunk.usage)) this.#onUsage(chunk.usage, chunk.service_tier);
  }

  #onResponseEvent(type: string, event: Record<string, unknown>): void {
    const response = isRecord(event.response) ? event.response : null;
    if (type === 'response.created') {
      if (this.#created) this.#flagInvalid('duplicate_start');
      this.#created = true;
    } else if (!TERMINAL.has(type)) return;
    this.#started = true;
    if (response === null) return;
    this.#model ??= text(response.model);
    this.#messageId ??= text(response.id);
    if (!TERMINAL.has(type)) return;
    this.#ended = true;
    this.#stopReason = responseStop(response);
    if (type === 'response.failed') this.#errorType = readError(response) ?? 'unknown';
    if (isRecord(response.usage)) this.#onUsage(response.usage, response.service_tier);
  }

  #onUsage(reported: Record<string, unknown>, tier: unknown): void {
    const r = this.#read(reported);
    if (r.invalid) return this.#flagInvalid('invalid_count');
    if (r.usage === null) return;
    if (this.#usage !== null && decreased(this.#usage, r.usage)) this.#flagInvalid('count_decreased');
    this.#usage = r.usage;
    this.#usage.serviceTier = text(tier);
    this.#adjusted = r.adjusted;
    // The usage counts everything streamed before it: only what follows is estimated.
    this.#streamedChars = 0;
  }

  #flagInvalid(why: StreamAnomaly): void {
    this.anomalies.add(why);
    this.#invalid = true;
  }

  /** Ended without the usage it should have ended with: no end seen, or an error. */
  get #cutShort(): boolean {
    return !this.complete || this.#errorType !== null;
  }

  /** The usage reported last; for a stream cut short before any, the estimate of its input (the tap adds the output's). */
  get usage(): Usage | null {
    if (this.#usage !== null) return { ...this.#usage };
    if (!this.estimated) return null;
    return { ...emptyUsage(), input: Math.ceil((this.#requestBytes ?? 0) / CHARS_PER_TOKEN) };
  }
  get estimated(): boolean {
    return this.#usage === null && this.#requestBytes !== null && this.#cutShort;
  }
  get adjusted(): string | null {
    return this.#adjusted;
  }
  get invalid(): boolean {
    return this.#invalid;
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
  get errorType(): string | null {
    return this.#errorType;
  }
  get started(): boolean {
    return this.#started;
  }
  /** `[DONE]` or a terminal Responses event was seen, or a chat stream's usage after its finish: the usage is final. */
  get complete(): boolean {
    return this.#ended || (this.#usage !== null && this.#finished);
  }
  get streamedOutput(): number {
    return Math.ceil(this.#streamedChars / CHARS_PER_TOKEN);
  }
}

function length(v: unknown): number {
  return typeof v === 'string' ? v.length : 0;
}

/** Characters of a parsed chat delta's text: content, reasoning (two spellings), refusal, tool-call arguments. */
function deltaChars(delta: unknown): number {
  if (!isRecord(delta)) return 0;
  let n = length(delta.content) + length(delta.reasoning_content) + length(delta.reasoning) + length(delta.refusal);
  if (Array.isArray(delta.tool_calls))
    for (const call of delta.tool_calls) if (isRecord(call) && isRecord(call.function)) n += length(call.function.arguments);
  return n;
}

/** Whether a later usage reports less of a count than an earlier one (each is the whole request's). */
function decreased(before: Usage, after: Usage): boolean {
  return (
    after.input < before.input ||
    after.output < before.output ||
    after.cacheRead < before.cacheRead ||
    after.cacheCreation < before.cacheCreation
  );
}
