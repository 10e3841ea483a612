import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Dialect } from '../core/dialect.ts';
import type { RequestFacts } from '../core/request.ts';

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
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    (req as ReadingRequest)[READ] = new BodyRead(req, maxBytes, resolve, reject);
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

class BodyRead {
  readonly #req: ReadingRequest;
  readonly #maxBytes: number;
  readonly #resolve: (r: ReadBody) => void;
  readonly #reject: (err: Error) => void;
  readonly #chunks: Buffer[] = [];
  #size = 0;

  constructor(req: ReadingRequest, maxBytes: number, resolve: (r: ReadBody) => void, reject: (err: Error) => void) {
    this.#req = req;
    this.#maxBytes = maxBytes;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  data(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
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
