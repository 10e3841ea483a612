import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dialect } from '../core/dialect.ts';
import type { RequestFacts } from '../core/request.ts';

/**
 * The request body bytes held in memory by every request in flight, against one cap
 * (limits.max_buffered_request_bytes): each body is bounded on its own, but without this
 * many concurrent large uploads would add up without limit. Bytes are taken as they are
 * buffered (a declared Content-Length up front) and given back when the response closes,
 * since the body is held until it has been forwarded.
 */
export class BodyBuffers {
  #held = 0;
  #peak = 0;
  #refused = 0;

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }
  /** The most ever held at once. */
  get peak(): number {
    return this.#peak;
  }
  /** Requests refused because their body would not fit. */
  get refused(): number {
    return this.#refused;
  }

  /** Takes `n` bytes if the total stays within `max`; otherwise counts a refusal. */
  take(n: number, max: number): boolean {
    if (this.#held + n > max) {
      this.#refused++;
      return false;
    }
    this.#held += n;
    if (this.#held > this.#peak) this.#peak = this.#held;
    return true;
  }

  give(n: number): void {
    this.#held -= n;
  }
}

/** Every request in flight together holds as many body bytes as allowed: this one is not read (a 503 with retry-after). */
export class BodiesFull extends Error {
  /** The limit that is full: body bytes in memory, or batch create bytes in temporary files. */
  readonly limit: BodiesLimit;
  constructor(limit: BodiesLimit = 'max_buffered_request_bytes') {
    super(`request bodies in flight hold ${limit} already`);
    this.name = 'BodiesFull';
    this.limit = limit;
  }
}

export type BodiesLimit = 'max_buffered_request_bytes' | 'max_spooled_batch_bytes';

/** The shared accounting a read takes its bytes from, and the response whose close gives them back. */
export interface BodyRoom {
  buffers: BodyBuffers;
  /** limits.max_buffered_request_bytes as of this request (a reload may change it). */
  max: number;
  res: ServerResponse;
}

export interface ReadBody {
  /** The bytes to forward: the whole body, or what was read followed by the rest of the stream. */
  forward: Buffer | Readable;
  /** Size of the body, or of what was read of an oversized one. */
  bytes: number;
  /** The whole body, for the dialect to parse; null when it was too large to hold. */
  whole: Buffer | null;
}

/**
 * Reads the body of a metered or free route, so its facts can be parsed when a stage asks
 * (budget admission before forwarding, the model of a failed request). Bounded: past `maxBytes` we stop buffering and stream the
 * remainder through unread, so an oversized body costs no memory and the upstream
 * still decides what to answer. Rejects when the client goes away mid-upload.
 *
 * Plain listeners rather than `for await`: the async iterator costs a generator, a
 * promise per chunk and paused-mode reads on every request, and returning from it
 * early destroys `req`, which lost the rest of an oversized body. The listeners are
 * shared functions that find their read on the request (`this` is the emitter), so no
 * closure is made per request.
 */
export function readRequestBody(req: IncomingMessage, maxBytes: number, room?: BodyRoom): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    const read = new BodyRead(req, maxBytes, resolve, reject, room ?? null);
    // A declared length is taken before a byte is read: a body that cannot fit is refused unread.
    if (room !== undefined && !read.reserve(declaredLength(req, maxBytes))) return;
    (req as ReadingRequest)[READ] = read;
    req.on('data', onReqData);
    req.on('end', onReqEnd);
    req.on('error', onReqError);
    req.on('close', onReqClose);
  });
}

const READ = Symbol('claude-meter.body-read');
type ReadingRequest = IncomingMessage & { [READ]?: BodyRead | undefined };

function onReqData(this: ReadingRequest, chunk: Buffer): void {
  this[READ]?.data(chunk);
}
function onReqEnd(this: ReadingRequest): void {
  this[READ]?.end();
}
function onReqError(this: ReadingRequest, err: Error): void {
  this[READ]?.fail(err);
}
// 'close' before 'end': the upload was cut short.
function onReqClose(this: ReadingRequest): void {
  this[READ]?.fail(new Error('request closed before its body ended'));
}

/** The Content-Length as far as it will be buffered (0 when absent or chunked). */
function declaredLength(req: IncomingMessage, maxBytes: number): number {
  const n = Number(req.headers['content-length']);
  return Number.isSafeInteger(n) && n > 0 ? Math.min(n, maxBytes) : 0;
}

const HOLD = Symbol('claude-meter.body-hold');
type HoldingResponse = ServerResponse & { [HOLD]?: BodyRead | undefined };

// The body is referenced until the exchange is over, which is when the response closes.
function onResClose(this: HoldingResponse): void {
  this[HOLD]?.release();
  this[HOLD] = undefined;
}

class BodyRead {
  readonly #req: ReadingRequest;
  readonly #maxBytes: number;
  readonly #resolve: (r: ReadBody) => void;
  readonly #reject: (err: Error) => void;
  readonly #room: BodyRoom | null;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  /** Bytes taken from the room's BodyBuffers, given back once. */
  #taken = 0;

  constructor(req: ReadingRequest, maxBytes: number, resolve: (r: ReadBody) => void, reject: (err: Error) => void, room: BodyRoom | null) {
    this.#req = req;
    this.#maxBytes = maxBytes;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#room = room;
    if (room !== null) {
      (room.res as HoldingResponse)[HOLD] = this;
      room.res.on('close', onResClose);
    }
  }

  /** Takes `n` more bytes from the room; false (the read rejected with BodiesFull) when they do not fit. */
  reserve(n: number): boolean {
    const room = this.#room;
    if (room === null || n === 0) return true;
    if (room.buffers.take(n, room.max)) {
      this.#taken += n;
      return true;
    }
    this.release();
    this.#reject(new BodiesFull());
    return false;
  }

  release(): void {
    this.#room?.buffers.give(this.#taken);
    this.#taken = 0;
  }

  data(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#room !== null && this.#size > this.#taken && !this.reserve(this.#size - this.#taken)) {
      this.#req.pause();
      this.#detach();
      this.#chunks.length = 0;
      return;
    }
    if (this.#size <= this.#maxBytes) return;
    // Paused before the listener goes, so no chunk is emitted to nobody; concatThenRest reads the rest.
    this.#req.pause();
    this.#detach();
    this.#resolve({
      forward: Readable.from(concatThenRest(this.#chunks, this.#req)),
      bytes: this.#size,
      whole: null,
    });
  }

  end(): void {
    this.#detach();
    const body = Buffer.concat(this.#chunks, this.#size);
    this.#resolve({ forward: body, bytes: body.length, whole: body });
  }

  fail(err: Error): void {
    this.#detach();
    this.release();
    this.#reject(err);
  }

  #detach(): void {
    const req = this.#req;
    req[READ] = undefined;
    req.off('data', onReqData);
    req.off('end', onReqEnd);
    req.off('error', onReqError);
    req.off('close', onReqClose);
  }
}

async function* concatThenRest(head: Buffer[], rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  yield* rest;
}

/** The request's metered facts: parsed by the dialect from the whole body; nothing is inferred from an oversized one. */
export function parseFacts(read: ReadBody, dialect: Dialect): RequestFacts {
  if (read.whole === null) return { model: null, stream: false, maxTokens: null, bytes: read.bytes, parsed: false };
  return dialect.requestFacts(read.whole);
}
