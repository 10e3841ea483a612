import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';

/** What the pipeline needs from a Messages request body, read once. */
export interface RequestFacts {
  model: string | null;
  stream: boolean;
  maxTokens: number | null;
  /** Body size in bytes (input-size estimate for budgets). */
  bytes: number;
  /** False when the body was not JSON we could read; it is still forwarded as-is. */
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
 * early destroys `req`, which lost the rest of an oversized body.
 */
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Methods, not named arrow functions: run from source (tests), claude-meter goes through
    // tsx, which gives every named closure a defineProperty('name') call (~1 µs) per creation.
    const on: BodyListeners = {
      data(chunk) {
        chunks.push(chunk);
        size += chunk.length;
        if (size <= maxBytes) return;
        // Paused before the listener goes, so no chunk is emitted to nobody; concatThenRest reads the rest.
        req.pause();
        detach(req, on);
        resolve({
          forward: Readable.from(concatThenRest(chunks, req)),
          facts: { model: null, stream: false, maxTokens: null, bytes: size, parsed: false },
        });
      },
      end() {
        detach(req, on);
        const body = Buffer.concat(chunks, size);
        resolve({ forward: body, facts: inspect(body) });
      },
      error(err) {
        detach(req, on);
        reject(err);
      },
      // 'close' before 'end': the upload was cut short.
      close() {
        on.error(new Error('request closed before its body ended'));
      },
    };
    req.on('data', on.data);
    req.on('end', on.end);
    req.on('error', on.error);
    req.on('close', on.close);
  });
}

interface BodyListeners {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
  close(): void;
}

function detach(req: IncomingMessage, on: BodyListeners): void {
  req.off('data', on.data);
  req.off('end', on.end);
  req.off('error', on.error);
  req.off('close', on.close);
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

/** Pure: parses the body once. */
function parseFacts(body: Buffer): RequestFacts {
  const facts: RequestFacts = { model: null, stream: false, maxTokens: null, bytes: body.length, parsed: false };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    // Invalid JSON is the upstream's to reject; we forward it unchanged and record the answer.
    return facts;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return facts;
  const o = json as Record<string, unknown>;
  facts.parsed = true;
  if (typeof o['model'] === 'string') facts.model = o['model'];
  facts.stream = o['stream'] === true;
  if (typeof o['max_tokens'] === 'number' && Number.isFinite(o['max_tokens'])) facts.maxTokens = o['max_tokens'];
  return facts;
}
