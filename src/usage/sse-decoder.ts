/**
 * Incremental Server-Sent Events decoder over raw bytes.
 *
 * Follows the WHATWG HTML "event stream interpretation" rules, which is also what the
 * Anthropic SDK's LineDecoder + SSEDecoder implement:
 * - a line ends at `\r\n`, `\n` or `\r`; a `\r\n` pair may be split across chunks;
 * - bytes are decoded as UTF-8 one complete line at a time: CR and LF never occur inside a
 *   multibyte sequence, so a line boundary is always a character boundary, whatever the chunking;
 * - `:` starts a comment; `field: value` loses exactly one leading space; a line without a
 *   colon is a field with an empty value; several `data` lines join with `\n`;
 * - a blank line dispatches the event, unless it has no data (then it is discarded).
 *
 * Pure and synchronous: it only transforms bytes to events. Every buffer is bounded by
 * `maxEventBytes`; an event that grows past it is dropped whole and counted, and decoding
 * resumes after the next blank line.
 */

export interface SseEvent {
  /** The `event:` field, or null when absent or empty (the spec's default type "message"). */
  event: string | null;
  data: string;
}

export interface SseDecoderOptions {
  /** Largest event (sum of its field lines, in bytes) kept; bigger ones are dropped. */
  maxEventBytes: number;
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const BOM = 0xfeff;
const MIN_PENDING_CAPACITY = 256;

export class SseDecoder {
  /** Events abandoned because they exceeded `maxEventBytes`. */
  droppedEvents = 0;

  readonly #maxEventBytes: number;
  // ignoreBOM: the spec strips a BOM only at the very start of the stream, not of every line.
  readonly #utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  /** Bytes of the current, not yet terminated line (only when it began in an earlier chunk). */
  #pending = new Uint8Array(0);
  #pendingLen = 0;
  /** Length of the current line so far, counted even when its bytes are not kept. */
  #lineBytes = 0;
  /** The current line is a comment: its bytes are never kept. */
  #skipLine = false;
  /** The previous chunk ended with `\r`: a `\n` opening the next chunk belongs to it. */
  #afterCR = false;
  #atStreamStart = true;
  /** Inside an oversized event: ignore everything up to the next blank line. */
  #dropping = false;
  #eventBytes = 0;
  #eventName: string | null = null;
  #data: string[] = [];

  constructor(opts: SseDecoderOptions) {
    if (!(opts.maxEventBytes > 0)) throw new RangeError('maxEventBytes must be > 0');
    this.#maxEventBytes = opts.maxEventBytes;
  }

  push(chunk: Uint8Array): SseEvent[] {
    const out: SseEvent[] = [];
    const n = chunk.length;
    if (n === 0) return out;
    let pos = 0;
    if (this.#afterCR) {
      this.#afterCR = false;
      if (chunk[0] === LF) pos = 1;
    }
    // Next CR / LF positions are cached so each byte is scanned once (-1: none left in chunk).
    let nextLF = -2;
    let nextCR = -2;
    while (pos < n) {
      if (nextLF !== -1 && nextLF < pos) nextLF = chunk.indexOf(LF, pos);
      if (nextCR !== -1 && nextCR < pos) nextCR = chunk.indexOf(CR, pos);
      const end = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
      if (end === -1) {
        this.#take(chunk, pos, n);
        break;
      }
      this.#endLine(chunk, pos, end, out);
      if (chunk[end] === LF) {
        pos = end + 1;
      } else if (end + 1 < n) {
        pos = chunk[end + 1] === LF ? end + 2 : end + 1;
      } else {
        this.#afterCR = true;
        pos = n;
      }
    }
    return out;
  }

  /**
   * End of input. Unlike a browser (which discards an unterminated final event), a metering
   * tap dispatches it: a cut-off frame whose data is complete JSON is still evidence of usage,
   * and a truncated one fails JSON parsing downstream.
   */
  flush(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.#lineBytes > 0) this.#endLine(this.#pending, 0, 0, out);
    this.#blankLine(out);
    this.#afterCR = false;
    return out;
  }

  /** Accounts bytes [start, end) of an unterminated line, keeping them unless skipped. */
  #take(chunk: Uint8Array, start: number, end: number): void {
    const len = end - start;
    if (len === 0) return;
    if (this.#lineBytes === 0 && chunk[start] === COLON) this.#skipLine = true;
    this.#lineBytes += len;
    if (this.#skipLine || this.#dropping) return;
    if (this.#eventBytes + this.#lineBytes > this.#maxEventBytes) {
      this.#startDrop();
      return;
    }
    const need = this.#pendingLen + len;
    if (need > this.#pending.length) {
      const cap = Math.min(this.#maxEventBytes, Math.max(MIN_PENDING_CAPACITY, need * 2));
      const grown = new Uint8Array(cap);
      grown.set(this.#pending.subarray(0, this.#pendingLen));
      this.#pending = grown;
    }
    this.#pending.set(chunk.subarray(start, end), this.#pendingLen);
    this.#pendingLen = need;
  }

  /** The line ends at `end` (exclusive); its bytes are [start, end) plus any pending bytes. */
  #endLine(chunk: Uint8Array, start: number, end: number, out: SseEvent[]): void {
    let line: Uint8Array;
    if (this.#lineBytes === 0) {
      // Common case: the whole line is inside this chunk, so it is read in place, uncopied.
      const len = end - start;
      if (len === 0) {
        this.#blankLine(out);
        return;
      }
      this.#lineBytes = len;
      this.#skipLine = chunk[start] === COLON;
      line = chunk.subarray(start, end);
    } else {
      this.#take(chunk, start, end);
      line = this.#pending.subarray(0, this.#pendingLen);
    }
    if (!this.#skipLine && !this.#dropping) {
      if (this.#eventBytes + this.#lineBytes > this.#maxEventBytes) {
        this.#startDrop();
      } else {
        this.#eventBytes += this.#lineBytes;
        this.#field(this.#utf8.decode(line));
      }
    }
    this.#atStreamStart = false;
    this.#pendingLen = 0;
    this.#lineBytes = 0;
    this.#skipLine = false;
  }

  #field(raw: string): void {
    let line = raw;
    if (this.#atStreamStart && line.charCodeAt(0) === BOM) line = line.slice(1);
    const colon = line.indexOf(':');
    if (colon === 0) return; // a comment, once a leading BOM is gone
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (name === 'data') this.#data.push(value);
    else if (name === 'event') this.#eventName = value === '' ? null : value;
    // `id` and `retry` only steer reconnection, which a passive tap never does; the spec
    // says to ignore any other field name.
  }

  #blankLine(out: SseEvent[]): void {
    if (this.#dropping) {
      this.#dropping = false; // resynchronised: the oversized event ended here
    } else if (this.#data.length > 0) {
      out.push({ event: this.#eventName, data: this.#data.join('\n') });
    }
    this.#resetEvent();
  }

  #startDrop(): void {
    this.droppedEvents++;
    this.#dropping = true;
    this.#pendingLen = 0;
    this.#resetEvent();
  }

  #resetEvent(): void {
    this.#eventName = null;
    this.#data = [];
    this.#eventBytes = 0;
  }
}
