/**
 * UsageTap: a passive observer of one upstream response. The proxy forwards the bytes to the
 * client itself and hands the tap the same chunks; the tap never alters, delays or holds
 * back what the client gets, and never throws into the proxy's data path.
 */
import type { Dialect, StreamReading } from '../core/dialect.ts';
import type { RequestFacts, RouteKind } from '../core/request.ts';
import type { UsageMissingReason, UsageOutcome } from '../core/usage.ts';
import { parsePicked, PICK_MIN_BYTES } from '../lib/json-members.ts';
import { DecodeChain, parseContentEncoding } from './decompress.ts';
import { oversizedEvents } from './skim.ts';
import { SseDecoder, type SseEvent } from './sse-decoder.ts';

export interface TapOptions {
  dialect: Dialect;
  /** The request's route, as the dialect classified it. */
  route: RouteKind;
  /** The model reported when the response names none (tests; the exchange falls back itself). */
  requestModel?: string | null;
  /** The request's facts when they were read: a stream reading may estimate from them (Dialect.newStream). */
  request?: RequestFacts | null;
  /** Largest (decoded) JSON body inspected; the client still receives all of it. */
  maxJsonBodyBytes: number;
  maxSseEventBytes: number;
  /** Largest decoded copy of a compressed body; past it metering stops (`decompression_limit`). */
  maxDecompressedBytes: number;
  /** Largest expansion (decoded ÷ compressed bytes) past the first MiB; past it metering stops too. */
  maxDecompressionRatio: number;
}

export type FinishHow = 'complete' | 'aborted' | 'upstream_error';
type Headers = Record<string, string | string[] | undefined>;

/** `name` is lower case. Node and undici hand us lower-case names, so look that up first; scan only if absent. */
function header(headers: Headers, name: string): string | null {
  const v = headers[name] ?? scanHeader(headers, name);
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

function scanHeader(headers: Headers, name: string): string | string[] | undefined {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name && headers[k] !== undefined) return headers[k];
  return undefined;
}

function mediaType(contentType: string | null): string | null {
  if (contentType === null) return null;
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/** Why metering stopped reading a body before its end. */
type GaveUp = 'unparseable_body' | 'body_too_large' | 'decompression_limit';

export class UsageTap {
  readonly #opts: TapOptions;
  readonly #dialect: Dialect;
  readonly #route: RouteKind;
  #status: number | null = null;
  #mode: 'ignore' | 'sse' | 'json' = 'ignore';
  /**
   * Set when metering stopped reading: bytes it could not understand (bad encoding, decode
   * error, bug), an inspection bound (the JSON body size, the decompressor backlog) or a
   * decompression limit. What was read before is not the bill, so it is not reported.
   */
  #gaveUp: GaveUp | null = null;
  #chain: DecodeChain | null = null;
  #sse: SseDecoder | null = null;
  #acc: StreamReading | null = null;
  #json: Buffer[] = [];
  #jsonBytes = 0;
  #pending: Promise<UsageOutcome> | null = null;
  #done: UsageOutcome | null = null;

  constructor(opts: TapOptions) {
    this.#opts = opts;
    this.#dialect = opts.dialect;
    this.#route = opts.route;
  }

  onResponseStart(status: number, headers: Headers): void {
    if (this.#status !== null || this.#finished) return;
    this.#status = status;
    const ok = status >= 200 && status < 300;
    // Error bodies are read for error.type whatever the endpoint; 2xx only on the metered one.
    if (!ok) this.#mode = 'json';
    else if (this.#route !== 'metered') return;
    else {
      const type = mediaType(header(headers, 'content-type'));
      if (type === 'text/event-stream') this.#mode = 'sse';
      // Anthropic always labels its JSON; a missing type is given the benefit of the doubt.
      else if (type === null || type === 'application/json' || type.endsWith('+json')) this.#mode = 'json';
      else return this.#giveUp();
    }
    if (this.#mode === 'sse') {
      const acc = this.#dialect.newStream(this.#opts.request ?? null);
      this.#acc = acc;
      const max = this.#opts.maxSseEventBytes;
      this.#sse = new SseDecoder({ maxEventBytes: max, skim: oversizedEvents(this.#dialect, acc, max) });
    }
    const codings = parseContentEncoding(header(headers, 'content-encoding'));
    if (codings === null) return this.#giveUp();
    if (codings.length > 0) {
      const limits = { maxBytes: this.#opts.maxDecompressedBytes, maxRatio: this.#opts.maxDecompressionRatio };
      this.#chain = new DecodeChain(codings, (c) => this.#consume(c), limits);
    }
  }

  /** A copy of a response chunk as it goes to the client. Synchronous, cheap, never throws. */
  onData(chunk: Buffer): void {
    if (this.#mode === 'ignore' || this.#gaveUp !== null || this.#finished) return;
    try {
      if (this.#chain !== null) this.#chain.write(chunk);
      else this.#consume(chunk);
    } catch {
      this.#giveUp();
    }
  }

  /**
   * The response is over. `aborted`: the client went away or the upstream cut the body;
   * `upstream_error`: the upstream body failed. Either way the usage seen so far is reported,
   * flagged partial unless the stream had already completed. Idempotent.
   */
  finish(how: FinishHow): Promise<UsageOutcome> {
    if (this.#pending === null) {
      const now = this.finishNow(how);
      this.#pending = now !== null ? Promise.resolve(now) : this.#finishAfterDecode(how);
    }
    return this.#pending;
  }

  /**
   * The same outcome without a promise, when nothing is left to decode (no content coding:
   * the usual case, since metered requests ask for identity); null when a decoder still has
   * to finish, and then only finish() gives the outcome. Idempotent, like finish().
   */
  finishNow(how: FinishHow): UsageOutcome | null {
    if (this.#done !== null) return this.#done;
    if (this.#chain !== null || this.#pending !== null) return null;
    this.#done = this.#outcome(how);
    return this.#done;
  }

  /** finish() or finishNow() was called: later bytes and headers are ignored. */
  get #finished(): boolean {
    return this.#pending !== null || this.#done !== null;
  }

  /** Tolerated protocol oddities seen in the stream (for logs and metrics). */
  get anomalies(): ReadonlySet<string> {
    return this.#acc?.anomalies ?? new Set();
  }

  /** SSE events dropped for exceeding maxSseEventBytes (those whose usage was kept are not counted). */
  get droppedEvents(): number {
    return this.#sse?.droppedEvents ?? 0;
  }

  #giveUp(why: GaveUp = 'unparseable_body'): void {
    this.#gaveUp ??= why;
    this.#chain?.abandon();
    this.#json = [];
  }

  /** Decoded body bytes. Also called from zlib callbacks, so it must not throw either. */
  #consume(bytes: Buffer): void {
    if (this.#gaveUp !== null) return;
    try {
      if (this.#mode === 'sse') this.#onEvents(this.#sse?.push(bytes) ?? []);
      else if (this.#mode === 'json') this.#collect(bytes);
    } catch {
      this.#giveUp();
    }
  }

  #collect(bytes: Buffer): void {
    this.#jsonBytes += bytes.length;
    if (this.#jsonBytes > this.#opts.maxJsonBodyBytes) {
      this.#giveUp('body_too_large'); // nothing more to learn from this body
      return;
    }
    this.#json.push(bytes);
  }

  #onEvents(events: SseEvent[]): void {
    const acc = this.#acc;
    if (acc === null) return;
    for (const ev of events) {
      if (ev.event !== null) {
        const kind = this.#dialect.eventKind(ev.event);
        if (kind === 'content') acc.onContent(ev.data.length, ev.data);
        if (kind !== 'usage') continue;
      } else if (acc.onUnnamed !== undefined && !acc.onUnnamed(ev.data)) continue;
      let data: unknown;
      try {
        data = JSON.parse(ev.data);
      } catch {
        data = undefined; // the accumulator records it as an anomaly
      }
      acc.onEvent(ev.event, data);
    }
  }

  async #finishAfterDecode(how: FinishHow): Promise<UsageOutcome> {
    const chain = this.#chain;
    if (chain !== null && this.#status !== null) {
      await chain.end();
      if (chain.failure === 'corrupt') this.#giveUp('unparseable_body');
      if (chain.failure === 'overloaded') this.#giveUp('body_too_large');
      if (chain.failure === 'limit') this.#giveUp('decompression_limit');
    }
    this.#done = this.#outcome(how);
    return this.#done;
  }

  /** The outcome from what was seen; any decoder has finished. */
  #outcome(how: FinishHow): UsageOutcome {
    const status = this.#status;
    if (status === null) return this.#result({ missingReason: 'upstream_unreachable' });
    if (status < 200 || status >= 300) {
      const body = this.#parseJson();
      return this.#result({ missingReason: 'error_status', errorType: this.#dialect.readError(body) });
    }
    if (this.#route === 'free') return this.#result({});
    // Billed but reports no usage: say so rather than record a silent $0.
    if (this.#route === 'unreported') return this.#result({ missingReason: 'no_usage_field' });
    if (this.#route !== 'metered') return this.#result({ missingReason: 'not_metered_endpoint' });
    if (this.#mode === 'sse') return this.#sseOutcome();
    if (this.#gaveUp !== null) return this.#result({ missingReason: this.#gaveUp });
    const body = this.#parseJson();
    if (body === undefined) {
      // A body cut short is incomplete rather than malformed.
      return how === 'complete'
        ? this.#result({ missingReason: 'unparseable_body' })
        : this.#result({ missingReason: 'stream_incomplete', partial: true });
    }
    const info = this.#dialect.readBody(body);
    return this.#result({
      adjusted: info.invalid ? null : (info.adjusted ?? null),
      usage: info.invalid ? null : info.usage,
      model: info.model,
      missingReason: info.invalid ? 'invalid_usage' : info.usage === null ? 'no_usage_field' : null,
      errorType: this.#dialect.readError(body),
      stopReason: info.stopReason,
      messageId: info.messageId,
    });
  }

  /**
   * A stream's usage is trusted only with exactly one opening event and valid counts. One cut
   * short (no closing event, an error event) is partial, and its output is the count last
   * reported plus an estimate of what streamed after it (cut before any report, its usage is the
   * reading's estimate: StreamReading.estimated). When metering gave up, what it read
   * is not the bill: no usage, and the reason.
   */
  #sseOutcome(): UsageOutcome {
    const acc = this.#acc as StreamReading;
    if (this.#gaveUp === null) this.#onEvents(this.#sse?.flush() ?? []);
    const partial = !acc.complete || acc.errorType !== null || this.#gaveUp !== null;
    let usage = acc.usage;
    let missingReason: UsageMissingReason | null = null;
    let estimated = false;
    if (this.#gaveUp !== null) missingReason = this.#gaveUp;
    else if (acc.invalid) missingReason = 'invalid_usage';
    else if (!acc.started) missingReason = 'stream_incomplete';
    else if (usage === null) missingReason = 'no_usage_field';
    else {
      if (partial && acc.streamedOutput > 0) {
        usage.output += acc.streamedOutput;
        estimated = true;
      }
      if (acc.estimated === true) estimated = true;
    }
    if (missingReason !== null) usage = null;
    return this.#result({
      usage,
      model: acc.model,
      missingReason,
      partial,
      estimated,
      adjusted: usage === null ? null : (acc.adjusted ?? null),
      errorType: acc.errorType,
      stopReason: acc.stopReason,
      messageId: acc.messageId,
    });
  }

  /** The collected JSON body (its metered members), or undefined when absent or not JSON. */
  #parseJson(): unknown {
    if (this.#gaveUp !== null || this.#jsonBytes === 0) return undefined;
    // Usually one chunk: decode it in place rather than copy it into a new Buffer first.
    const chunks = this.#json;
    this.#json = [];
    let s = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#jsonBytes)).toString('utf8');
    if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    // Larger bodies are mostly generated text: parse only the members metering reads.
    if (this.#jsonBytes >= PICK_MIN_BYTES) return parsePicked(s, this.#dialect.responseMembers);
    try {
      return JSON.parse(s) as unknown;
    } catch {
      return undefined;
    }
  }

  #result(o: Partial<UsageOutcome>): UsageOutcome {
    const usage = o.usage ?? null;
    return {
      usage,
      model: o.model ?? this.#opts.requestModel ?? null,
      missingReason: o.missingReason ?? null,
      partial: o.partial ?? false,
      estimated: o.estimated ?? false,
      errorType: o.errorType ?? null,
      stopReason: o.stopReason ?? null,
      messageId: o.messageId ?? null,
      // Only usage that is kept can have been adjusted.
      adjusted: usage === null ? null : (o.adjusted ?? null),
    };
  }
}
