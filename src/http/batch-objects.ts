/**
 * The answers that are batch objects (create, retrieve, cancel, delete, list): held whole,
 * bounded, so that each `results_url` can point through the proxy, and read for what the proxy
 * remembers of each batch (docs/batches.md). Nothing else in the body changes.
 */
import type { BatchApi, BatchFacts, ResponseFilter } from '../core/dialect.ts';

/** A batch list of 1,000 objects is about 600 KB; past this the answer passes unchanged. */
export const MAX_BATCH_OBJECT_BYTES = 8 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Holds a JSON answer until it ends, then rewrites its `results_url` members and reports the
 * batch objects it held. Past `max` bytes what was held goes out and the rest passes unread (the
 * URLs then name the upstream: the download still works, unmetered, and a warning says so).
 */
export class BatchObjectFilter implements ResponseFilter {
  readonly #api: BatchApi;
  readonly #base: string | null;
  readonly #max: number;
  readonly #onObjects: (objects: BatchFacts[]) => void;
  readonly #onTooLarge: () => void;
  #chunks: Buffer[] = [];
  #size = 0;
  #passing = false;

  constructor(opts: {
    api: BatchApi;
    /** An absolute base for the URLs (`public_url` and the route prefix), or null for relative ones. */
    base: string | null;
    max?: number;
    onObjects: (objects: BatchFacts[]) => void;
    onTooLarge: () => void;
  }) {
    this.#api = opts.api;
    this.#base = opts.base;
    this.#max = opts.max ?? MAX_BATCH_OBJECT_BYTES;
    this.#onObjects = opts.onObjects;
    this.#onTooLarge = opts.onTooLarge;
  }

  push(chunk: Buffer): Buffer {
    if (this.#passing) return chunk;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size <= this.#max) return EMPTY;
    this.#passing = true;
    this.#onTooLarge();
    const held = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    return held;
  }

  end(): Buffer {
    if (this.#passing) return EMPTY;
    const body = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    const text = body.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return body; // not JSON: the client gets the upstream's bytes
    }
    this.#onObjects(this.#api.readObjects(json));
    const rewritten = this.#api.rewriteResultsUrls(text, this.#base);
    return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
  }
}

/** A JSON content type (`application/json`, `…+json`, with parameters). */
export function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const t = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return t === 'application/json' || t.endsWith('+json');
}
