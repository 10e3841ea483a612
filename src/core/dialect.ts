/**
 * An upstream API's meaning, in one object: which routes are metered, the request facts it
 * needs, how its responses report usage, and its error shape. The tap, the pipeline and
 * pricing stay API-agnostic and take a Dialect; a new API is one folder under src/api/.
 */
import type { ErrorType } from './errors.ts';
import type { RequestFacts, RouteKind } from './request.ts';
import type { Usage } from './usage.ts';

type Headers = Record<string, string | string[] | undefined>;

export type EventKind = 'usage' | 'content' | 'none';

/** What a whole (non-streamed) response body reports. */
export interface BodyReading {
  /** Null when absent, and when invalid. */
  usage: Usage | null;
  /** Usage was reported but cannot be trusted: a counter that is not a count (or, streamed, see StreamReading). */
  readonly invalid: boolean;
  model: string | null;
  messageId: string | null;
  stopReason: string | null;
  /**
   * The usage was reported inconsistently and clamped so no count is negative (e.g. cached
   * tokens above the prompt total): why, for the record and a counter. Absent or null: as reported.
   */
  readonly adjusted?: string | null;
}

/** Folds the events of one streamed response into its usage. */
export interface StreamReading extends BodyReading {
  onEvent(event: string | null, data: unknown): void;
  /**
   * A content event (never parsed: see Dialect.eventKind), by its data's length and, when the
   * event was held whole, its text (a dialect whose events pad their size reads the delta's own
   * length from it): what the output estimate is made of.
   */
  onContent(length: number, data?: string): void;
  /**
   * Optional, for APIs whose stream events carry no `event:` name (OpenAI chat chunks), which
   * eventKind cannot classify: an unnamed event's data text, before any JSON.parse. The reading
   * takes what it needs from the text (a content delta's size, an end-of-stream sentinel) and
   * returns true when the event may carry more (usage, a finish, an error): only then is it
   * parsed and given to onEvent. Absent: every unnamed event is parsed.
   */
  onUnnamed?(data: string): boolean;
  /** Output tokens streamed since the usage last counted them, by the dialect's estimate (for a stream cut short). */
  readonly streamedOutput: number;
  /**
   * Optional: the usage is an estimate rather than a report, for a stream cut before it reported
   * any (its input from the request's size). Absent: false.
   */
  readonly estimated?: boolean;
  /** Tolerated protocol oddities (for logs and metrics). */
  readonly anomalies: ReadonlySet<string>;
  readonly errorType: string | null;
  /** The stream's opening event was seen. A second one makes the reading invalid. */
  readonly started: boolean;
  /** The stream's closing event was seen: the usage is final. */
  readonly complete: boolean;
}

/** Facts a dialect reads from request headers. */
export interface HeaderFacts {
  /** Beta features that change the price. */
  betas: readonly string[];
  /** The client's SDK says this is a retry. */
  retry: boolean;
}

/**
 * A change the proxy makes to a request body before forwarding it (e.g. asking an OpenAI-format
 * stream for its usage), and how to take back out of the response exactly what it caused.
 */
export interface RequestRewrite {
  /** The body to forward instead (its content-length is recomputed). */
  readonly body: Buffer;
  /** Why, for logs and docs: e.g. `include_usage`. */
  readonly reason: string;
  /** A filter for the response the client receives; called once, when a 2xx response starts. Null: no change needed. */
  responseFilter(contentType: string | undefined): ResponseFilter | null;
}

/**
 * Rewrites a response body in flight, chunk by chunk. The usage tap sees the upstream's bytes;
 * the client gets what this returns. It may hold back an incomplete event (never more than one).
 */
export interface ResponseFilter {
  push(chunk: Buffer): Buffer;
  /** The upstream's body ended (or was cut): whatever is held back. */
  end(): Buffer;
}

/**
 * A Message Batches call (docs/batches.md): `create` (POST …/batches), `list`, `object` (retrieve,
 * cancel, delete: answers that are one batch object), `results` (the JSONL download).
 */
export interface BatchCall {
  readonly kind: 'create' | 'list' | 'object' | 'results';
  /** The batch id in the path, as sent; null for create and list. */
  readonly id: string | null;
}

/** What a batch object says about a batch's life (times as epoch ms, null when absent). */
export interface BatchFacts {
  readonly id: string;
  readonly status: string | null;
  readonly createdAt: number | null;
  readonly expiresAt: number | null;
  readonly endedAt: number | null;
}

/** One line of a batch's results, as far as metering needs it. */
export interface BatchResultLine {
  customId: string;
  /** `unknown`: a `result.type` this build does not know (a newer API). */
  type: 'succeeded' | 'errored' | 'canceled' | 'expired' | 'unknown';
  /** Succeeded lines only; null on a succeeded line: billed, but its usage cannot be read (recorded as missing, never $0). */
  usage: Usage | null;
  model: string | null;
  messageId: string | null;
}

/** Reads a results download (JSONL) as it streams; bounded per line. */
export interface BatchResultsReading {
  push(chunk: Uint8Array): BatchResultLine[];
  /** The last line (complete without a newline), and whether the body ended inside a line (a cut download). */
  end(): { lines: BatchResultLine[]; cut: boolean };
  /** Lines that were not result lines. */
  readonly malformed: number;
}

/** What a batch create body asks for, for its budget estimate: its requests per model and max_tokens. */
export interface BatchRequests {
  /** False: not the shape the API takes (the upstream will say so), or only its start was read. */
  readonly readable: boolean;
  /** A member named twice where parsers may disagree on which wins (see RequestFacts.conflict), or null. */
  readonly conflict: string | null;
  readonly groups: readonly { model: string | null; maxTokens: number | null; count: number; bytes: number }[];
}

/** Reads a batch create body as it arrives. */
export interface BatchCreateScan {
  push(chunk: Uint8Array): void;
  end(): BatchRequests;
  /** The read stopped before the end (the body passed its bound). */
  cut(): BatchRequests;
}

/** A dialect's batch API, for the APIs that have one the proxy meters (Anthropic's Message Batches). */
export interface BatchApi {
  call(method: string, path: string): BatchCall | null;
  /** A batch object's (or list's) text with each `results_url` pointing through the proxy: relative, or under `base`. */
  rewriteResultsUrls(text: string, base: string | null): string;
  /** The batch objects of an answer (one, or a list's). */
  readObjects(json: unknown): BatchFacts[];
  /** A scan of one create body. */
  newScan(): BatchCreateScan;
  /** A reader for one results download; a line past `maxKeptBytes` keeps only what metering reads. */
  newResults(maxKeptBytes: number): BatchResultsReading;
}

export interface Dialect {
  readonly name: string;
  /** Its batch API, when the proxy meters one; absent: batch paths are whatever route() says. */
  readonly batches?: BatchApi;
  /** Called once per request with the canonical path (core/target.ts); the answer travels with the exchange. */
  route(method: string, path: string): RouteKind;
  headerFacts(headers: Headers): HeaderFacts;
  /** Request headers that carry a credential (lower-case), in order of preference; the proxy's own key is sent in the first. */
  readonly credentialHeaders: readonly string[];
  /** The secret a credential header's value carries (e.g. a bearer token): what identifies the caller. */
  credentialSecret(header: string, value: string): string;
  /** Parses a request body's metered fields. Explicit, because it is a JSON parse. */
  requestFacts(body: Buffer): RequestFacts;
  /**
   * A rewrite of a read request body before it is forwarded, or null (the common case: the body
   * goes byte-identical). Only dialects that need one implement it; each rewrite is documented.
   * `facts` parses the body when called (memoized by the exchange): call it only for a body the
   * rewrite may concern, so the requests it never touches pay no JSON parse.
   */
  rewrite?(route: RouteKind, path: string, body: Buffer, facts: () => RequestFacts | null): RequestRewrite | null;
  /** The top-level members of a response body the readers below use (large bodies parse only these). */
  readonly responseMembers: ReadonlySet<string>;
  readBody(json: unknown): BodyReading;
  /**
   * The members of a stream event the stream reading uses, as paths from the event's top
   * level: an event too large to hold keeps only these (so an oversized opening event keeps its usage).
   */
  readonly streamMembers: readonly (readonly string[])[];
  /** `error.type` of an error body or error event, when present. */
  readError(json: unknown): string | null;
  /**
   * What a stream event is, by its name, before any JSON.parse: `usage` is parsed; `content`
   * (generated output) and `none` never carry usage and are skipped (they are most of a
   * stream), content counted by its size only. Unknown names are `usage`: parsed, in case.
   */
  eventKind(event: string): EventKind;
  /** A reading for one streamed response; `request` is the request's facts when they were read (an estimate of a stream cut short may need its size). */
  newStream(request: RequestFacts | null): StreamReading;
  /** The body of an error the proxy answers with, in the shape the API's clients parse. */
  errorBody(type: ErrorType, message: string, requestId: string): string;
}
