import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { parsePicked, PICK_MIN_BYTES } from '../usage/json-members.ts';

/** What the pipeline needs from a Messages request body, read once. */
export interface RequestFacts {
  model: string | null;
  stream: boolean;
  maxTokens: number | null;
  /** Body size in bytes (input-size estimate for budgets). */
  bytes: number;
  /**
   * False when the body was not a JSON object we could read; it is still forwarded as-is.
   * From 2 KB only its structure and the fields above are checked (usage/json-members.ts),
   * so a body broken elsewhere still yields them; the upstream rejects it either way.
   */
  parsed: boolean;
}

export interface ReadBody {
  /** The bytes to forward: the whole body, or what was read followed by the rest of the stream. */
  forward: Buffer | Readable;
  facts: RequestFacts;
}

/**
 * Reads a request body we must inspect (model, max_tokens: needed before forwarding
 * for budget admission). Bounded: past `maxBytes` we stop buffering and stream the
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
      facts: { model: null, stream: false, maxTokens: null, bytes: this.#size, parsed: false },
    });
  }

  end(): void {
    this.#detach();
    const body = Buffer.concat(this.#chunks, this.#size);
    this.#resolve({ forward: body, facts: inspect(body) });
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

/**
 * The fields of a Messages body that matter for metering and budgets, parsed on first use.
 * A successful response names its model and shows whether it streams, so without budgets
 * most requests never parse their body: on real prompts of tens of KB, JSON.parse was the
 * largest per-request cost of metering. Budgets read model and max_tokens before forwarding.
 */
export function inspect(body: Buffer): RequestFacts {
  return new LazyFacts(body);
}

/** A class, not an object literal with getters: that would build four closures per request. */
class LazyFacts implements RequestFacts {
  readonly bytes: number;
  #body: Buffer | null;
  #facts: RequestFacts | null = null;

  constructor(body: Buffer) {
    this.bytes = body.length;
    this.#body = body;
  }

  get model(): string | null {
    return this.#read().model;
  }

  get stream(): boolean {
    return this.#read().stream;
  }

  get maxTokens(): number | null {
    return this.#read().maxTokens;
  }

  get parsed(): boolean {
    return this.#read().parsed;
  }

  #read(): RequestFacts {
    if (this.#facts === null) {
      this.#facts = parseFacts(this.#body ?? Buffer.alloc(0));
      this.#body = null; // parsed once; the forwarder holds its own reference
    }
    return this.#facts;
  }
}

const REQUEST_MEMBERS: ReadonlySet<string> = new Set(['model', 'stream', 'max_tokens']);

/** Pure: parses the body once. */
function parseFacts(body: Buffer): RequestFacts {
  const facts: RequestFacts = { model: null, stream: false, maxTokens: null, bytes: body.length, parsed: false };
  let json: unknown;
  try {
    const text = body.toString('utf8');
    // A prompt of tens of KB is mostly messages: from PICK_MIN_BYTES only the fields read here are parsed.
    json = body.length >= PICK_MIN_BYTES ? parsePicked(text, REQUEST_MEMBERS) : JSON.parse(text);
  } catch {
    json = undefined;
  }
  // Invalid JSON is the upstream's to reject; we forward it unchanged and record the answer.
  if (json === undefined) return facts;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return facts;
  const o = json as Record<string, unknown>;
  facts.parsed = true;
  if (typeof o['model'] === 'string') facts.model = o['model'];
  facts.stream = o['stream'] === true;
  if (typeof o['max_tokens'] === 'number' && Number.isFinite(o['max_tokens'])) facts.maxTokens = o['max_tokens'];
  return facts;
}
