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
 * `maxEventBytes`. An event that grows past it is handed, data and all, to a Skim when the
 * caller gives one (its data then streams through in pieces, never held whole: the Skim keeps
 * what it needs, e.g. the usage of an oversized message_start); otherwise, or when a line
 * other than `data` is the oversized one, the event is dropped whole and counted, and decoding
 * resumes after the next blank line.
 */

export interface SseEvent {
  /** The `event:` field, or null when absent or empty (the spec's default type "message"). */
  event: string | null;
  data: string;
}

/** Takes the data of an event too large to keep, in pieces, and keeps what it needs of it. */
export interface Skim {
  write(bytes: Uint8Array): void;
  /** The data to dispatch the event with, or null to drop it. */
  end(): string | null;
}

export interface SseDecoderOptions {
  /** Largest event (sum of its field lines, in bytes) kept; bigger ones go to `skim`, or are dropped. */
  maxEventBytes: number;
  /** A Skim for an oversized event (its `event:` name when already seen), or null to drop it. */
  skim?: (event: string | null) => Skim | null;
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const BOM = 0xfeff;
const DATA_FIELD = [0x64, 0x61, 0x74, 0x61, COLON]; // `data:`
const ENCODER = new TextEncoder();
const MIN_PENDING_CAPACITY = 256;

export class SseDecoder {
  /** Events abandoned because they exceeded `maxEventBytes` (and no Skim kept them). */
  droppedEvents = 0;
  /** Oversized events dispatched with what their Skim kept. */
  skimmedEvents = 0;

  readonly #maxEventBytes: number;
  readonly #skimFor: ((event: string | null) => Skim | null) | null;
  // ignoreBOM: the spec strips a BOM only at the very start of the stream, not of every line.
  readonly #utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  /** Bytes of the current, not yet terminated line (only when it began in an earlier chunk). */
  #pending = new Uint8Array(0);
  #pendingLen = 0;
  /** Length of the current line so far, counted even when its bytes are not kept. */
  #lineBytes = 0;
  /** The current line is a comment, or an oversized field other than data: its bytes are never kept. */
  #skipLine = false;
  /** The previous chunk ended with `\r`: a `\n` opening the next chunk belongs to it. */
  #afterCR = false;
  #atStreamStart = true;
  /** Inside an oversized event: ignore everything up to the next blank line. */
  #dropping = false;
  #eventBytes = 0;
  #eventName: string | null = null;
  #data: string[] = [];
  /** The current event outgrew maxEventBytes: its data goes here rather than to #data. */
  #skim: Skim | null = null;
  /** The skimmed event has data (it is dispatched), and the next data line is joined with `\n`. */
  #skimmed = false;
  /** The current line is an oversized `data` line: its value streams to #skim as it arrives. */
  #streaming = false;
  /** Streaming has not yet passed the value's first byte, which loses one leading space. */
  #valueStart = false;

  constructor(opts: SseDecoderOptions) {
    if (!(opts.maxEventBytes > 0)) throw new RangeError('maxEventBytes must be > 0');
    this.#maxEventBytes = opts.maxEventBytes;
    // Under 5 bytes an oversized line may not show whether it is `data:`: then events are dropped, as without a Skim.
    this.#skimFor = opts.maxEventBytes >= DATA_FIELD.length ? (opts.skim ?? null) : null;
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
    if (this.#streaming) {
      this.#stream(chunk, start, end);
      return;
    }
    if (this.#skim === null && this.#eventBytes + this.#lineBytes > this.#maxEventBytes && !this.#beginSkim()) return;
    if (this.#lineBytes > this.#maxEventBytes) {
      this.#oversizedLine(chunk, start, end);
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
      if (!this.#skipLine && !this.#dropping) {
        if (this.#skim === null && this.#eventBytes + len > this.#maxEventBytes) this.#beginSkim();
        if (len > this.#maxEventBytes && !this.#dropping) this.#oversizedLine(chunk, start, end);
      }
    } else {
      this.#take(chunk, start, end);
      line = this.#pending.subarray(0, this.#pendingLen);
    }
    if (!this.#skipLine && !this.#dropping && !this.#streaming) {
      if (this.#skim === null) this.#eventBytes += this.#lineBytes;
      this.#field(this.#utf8.decode(line));
    }
    this.#atStreamStart = false;
    this.#pendingLen = 0;
    this.#lineBytes = 0;
    this.#skipLine = false;
    this.#streaming = false;
  }

  /**
   * The event outgrew maxEventBytes: from here its data goes to a Skim (the data kept so far
   * first). False when there is none: the event is dropped.
   */
  #beginSkim(): boolean {
    const skim = this.#skimFor?.(this.#eventName) ?? null;
    if (skim === null) {
      this.#startDrop();
      return false;
    }
    this.#skim = skim;
    if (this.#data.length > 0) {
      skim.write(ENCODER.encode(this.#data.join('\n')));
      this.#skimmed = true;
    }
    this.#data = [];
    this.#eventBytes = 0;
    return true;
  }

  /**
   * A line longer than maxEventBytes, [start, end) of `chunk` plus any pending bytes: a `data`
   * line streams its value to the Skim from here on; any other field is ignored (`id`, `retry`
   * and unknown fields mean nothing to a tap), except an oversized `event` name, which drops the event.
   */
  #oversizedLine(chunk: Uint8Array, start: number, end: number): void {
    // The line's bytes so far were all kept (it is over the bound only now), and the bound is at least 5 bytes.
    const head = this.#head(chunk, start, end);
    if (!DATA_FIELD.every((b, i) => head[i] === b)) {
      if (String.fromCharCode(...head) === 'event') this.#startDrop();
      else this.#skipLine = true;
      this.#pendingLen = 0;
      return;
    }
    if (this.#skim === null && !this.#beginSkim()) return;
    const skim = this.#skim as Skim;
    if (this.#skimmed) skim.write(Uint8Array.of(LF));
    this.#skimmed = true;
    this.#streaming = true;
    this.#valueStart = true;
    const kept = this.#pendingLen;
    if (kept > DATA_FIELD.length) this.#stream(this.#pending, DATA_FIELD.length, kept);
    this.#stream(chunk, start + Math.max(0, DATA_FIELD.length - kept), end);
    this.#pendingLen = 0;
  }

  /** The first bytes (up to 5) of the current line: pending ones, then [start, end) of `chunk`. */
  #head(chunk: Uint8Array, start: number, end: number): number[] {
    const head: number[] = [];
    for (let i = 0; i < this.#pendingLen && head.length < DATA_FIELD.length; i++) head.push(this.#pending[i] as number);
    for (let i = start; i < end && head.length < DATA_FIELD.length; i++) head.push(chunk[i] as number);
    return head;
  }

  /** Bytes of an oversized data line's value to the Skim (the first one loses a leading space). */
  #stream(chunk: Uint8Array, start: number, end: number): void {
    let s = start;
    if (this.#valueStart && s < end) {
      this.#valueStart = false;
      if (chunk[s] === SPACE) s++;
    }
    if (s < end) this.#skim?.write(chunk.subarray(s, end));
  }

  #field(raw: string): void {
    let line = raw;
    if (this.#atStreamStart && line.charCodeAt(0) === BOM) line = line.slice(1);
    const colon = line.indexOf(':');
    if (colon === 0) return; // a comment, once a leading BOM is gone
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (name === 'data') this.#addData(value);
    else if (name === 'event') this.#eventName = value === '' ? null : value;
    // `id` and `retry` only steer reconnection, which a passive tap never does; the spec
    // says to ignore any other field name.
  }

  #addData(value: string): void {
    const skim = this.#skim;
    if (skim === null) {
      this.#data.push(value);
      return;
    }
    skim.write(ENCODER.encode(this.#skimmed ? `\n${value}` : value));
    this.#skimmed = true;
  }

  #blankLine(out: SseEvent[]): void {
    if (this.#dropping) {
      this.#dropping = false; // resynchronised: the oversized event ended here
    } else if (this.#skim !== null) {
      // Like any event, one without data lines is not dispatched.
      const data = this.#skimmed ? this.#skim.end() : null;
      if (data === null) {
        if (this.#skimmed) this.droppedEvents++;
      } else {
        this.skimmedEvents++;
        out.push({ event: this.#eventName, data });
      }
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
    this.#skim = null;
    this.#skimmed = false;
    this.#streaming = false;
  }
}
