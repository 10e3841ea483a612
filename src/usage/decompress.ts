/**
 * Decodes a COPY of a content-encoded response body for the usage tap.
 * The client always receives the original bytes; this chain only feeds the parsers.
 */
import { constants, createBrotliDecompress, createGunzip, createInflate, createInflateRaw, type Zlib } from 'node:zlib';
import type { Transform } from 'node:stream';

/**
 * Cap on stacked codings (`Content-Encoding: gzip, br, ...`). Real servers apply one; a
 * hostile upstream could list thousands to exhaust memory building decompressors
 * (urllib3's fix for CVE-2025-66418 caps the chain at the same 5 links).
 */
export const MAX_STACKED_ENCODINGS = 5;

/**
 * Compressed bytes waiting in a decompressor. Decompression far outruns the network, so this
 * is only reached by a pathological peer; then we give up inspecting rather than buffer more.
 */
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;

/**
 * Decoded bytes every stage may produce before its expansion ratio is checked: small bodies
 * compress unevenly (headers, dictionaries), and a MiB costs little to decode.
 */
export const RATIO_GRACE_BYTES = 1024 * 1024;

/** Bounds on what decoding a copy may produce, so that a small compressed body cannot cost a large one's CPU. */
export interface DecodeLimits {
  /** Decoded bytes per stage. */
  maxBytes: number;
  /** Decoded bytes per compressed byte the stage consumed, past RATIO_GRACE_BYTES. */
  maxRatio: number;
}

export type Coding = 'gzip' | 'deflate' | 'br';

/**
 * Parses a Content-Encoding header into the codings to undo, in decoding order (the last
 * applied first, RFC 9110 §8.4). `[]` for identity. Null when a coding is unsupported or
 * there are too many.
 */
export function parseContentEncoding(header: string | null): Coding[] | null {
  if (header === null) return [];
  const applied: Coding[] = [];
  for (const part of header.split(',')) {
    const c = part.trim().toLowerCase();
    if (c === '' || c === 'identity') continue;
    if (c === 'gzip' || c === 'x-gzip') applied.push('gzip');
    else if (c === 'deflate') applied.push('deflate');
    else if (c === 'br') applied.push('br');
    else return null;
  }
  if (applied.length > MAX_STACKED_ENCODINGS) return null;
  return applied.reverse();
}

function decompressor(coding: Coding, first: Buffer): Transform & Zlib {
  // Flush (rather than finish) at end of input, as undici's fetch does: a body cut short by an
  // abort still yields what it contained instead of an "unexpected end of file" error.
  if (coding === 'br') return createBrotliDecompress({ finishFlush: constants.BROTLI_OPERATION_FLUSH });
  const opts = { finishFlush: constants.Z_SYNC_FLUSH };
  if (coding === 'gzip') return createGunzip(opts);
  // HTTP "deflate" is zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send raw deflate.
  // A zlib header's low nibble is 8 (CM = deflate); sniff it like undici does.
  return ((first[0] ?? 0) & 0x0f) === 0x08 ? createInflate(opts) : createInflateRaw(opts);
}

interface Stage {
  write(chunk: Buffer): void;
  end(): void;
  backlog(): number;
}

/**
 * corrupt: undecodable bytes; overloaded: backlog bound hit; limit: a stage passed its decoded
 * bytes or expansion ratio (DecodeLimits); abandoned: the consumer stopped it.
 */
export type DecodeFailure = 'corrupt' | 'overloaded' | 'limit' | 'abandoned';

/**
 * A chain of streaming decompressors ending in `sink`. `write` is synchronous and cheap;
 * output reaches `sink` asynchronously: zlib inflates in the thread pool, a chunk of 16 KiB
 * at a time, so a large output never holds the event loop. `end()` resolves once all output
 * was delivered, or at the first error or limit (never rejects); `failure` then says why
 * decoding stopped. Once stopped, nothing more is fed to zlib.
 */
export class DecodeChain {
  failure: DecodeFailure | null = null;
  readonly #head: Stage;
  readonly #limits: DecodeLimits;
  readonly #streams: Transform[] = [];
  #done!: () => void;
  readonly #ended: Promise<void>;
  #endCalled = false;

  constructor(codings: readonly Coding[], sink: (chunk: Buffer) => void, limits: DecodeLimits) {
    this.#limits = limits;
    this.#ended = new Promise<void>((resolve) => {
      this.#done = resolve;
    });
    let next: Stage = {
      write: (chunk) => {
        if (this.failure === null) sink(chunk);
      },
      end: () => this.#done(),
      backlog: () => 0,
    };
    for (let i = codings.length - 1; i >= 0; i--) next = this.#stage(codings[i] as Coding, next);
    this.#head = next;
  }

  write(chunk: Buffer): void {
    if (this.failure !== null || this.#endCalled || chunk.length === 0) return;
    if (this.#head.backlog() > MAX_BACKLOG_BYTES) {
      this.abandon('overloaded');
      return;
    }
    this.#head.write(chunk);
  }

  end(): Promise<void> {
    if (!this.#endCalled) {
      this.#endCalled = true;
      if (this.failure === null) this.#head.end();
    }
    return this.#ended;
  }

  /** Stops decoding now and resolves `end()`. */
  abandon(why: DecodeFailure = 'abandoned'): void {
    if (this.failure !== null) return;
    this.failure = why;
    for (const s of this.#streams) s.destroy();
    this.#done();
  }

  /** Each decompressor is created on its first byte, so `deflate` can sniff its header. */
  #stage(coding: Coding, next: Stage): Stage {
    let z: (Transform & Zlib) | null = null;
    let decoded = 0;
    const { maxBytes, maxRatio } = this.#limits;
    return {
      write: (chunk) => {
        if (z === null) {
          const stream = decompressor(coding, chunk);
          z = stream;
          this.#streams.push(stream);
          stream.on('data', (out: Buffer) => {
            if (this.failure !== null) return;
            decoded += out.length;
            // bytesWritten: the compressed bytes this stage has consumed so far (zlib counts them before pushing output).
            if (decoded > maxBytes || (decoded > RATIO_GRACE_BYTES && decoded > maxRatio * stream.bytesWritten)) {
              this.abandon('limit');
              return;
            }
            next.write(out);
          });
          z.on('end', () => next.end());
          z.on('error', () => this.abandon('corrupt'));
        }
        z.write(chunk);
      },
      end: () => {
        if (z === null) next.end();
        else z.end();
      },
      backlog: () => (z === null ? 0 : z.writableLength),
    };
  }
}
