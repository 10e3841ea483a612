/**
 * What a Message Batches create body (`POST /v1/messages/batches`) asks for, read as it arrives:
 * `{"requests":[{"custom_id":…,"params":{<a Messages create body>}},…]}`, up to the API's
 * 256 MB. Only root → `requests` → each element → `params` → `model` and `max_tokens` are
 * looked at; everything else is validated as JSON and dropped. Memory is a few counters, a
 * nesting stack (MAX_DEPTH bytes), the kept key and value texts (capped) and one group per
 * (model, max_tokens), whatever the input. Pure.
 *
 * Exactness: on a text JSON.parse accepts (after a UTF-8 BOM, which upstreams read past), the
 * groups are what JSON.parse's object gives: keys compared unescaped, the last duplicate winning;
 * a text JSON.parse refuses, or of another shape, is not readable. Property-tested against
 * JSON.parse in test/unit/api/anthropic-batch-scan.test.ts.
 */
export { unreadableBatch, type BatchGroup, type BatchScanOptions, type BatchScanResult, type BatchUnreadable } from './batch-tally.ts';
import { BatchTally, type BatchScanOptions, type BatchScanResult, type BatchUnreadable, unreadableBatch } from './batch-tally.ts';
import { BACKSLASH, CLOSE, CLOSE_ARR, COLON, COMMA, CR, LF, OPEN, OPEN_ARR, QUOTE, SPACE, TAB } from '../../lib/json-chars.ts';

/** Deeper nesting is not read (4 bytes of JSON per level would need it: no real body does). */
export const MAX_DEPTH = 10_000;
/** Keys longer than this as written are none of ours: `max_tokens` with every character escaped is 60. */
const MAX_KEY_BYTES = 64;
/** A model's text as written: past 256 characters it is bounded anyway; 12 bytes can write 2 of them (`\ud83d\ude00`). */
const MAX_MODEL_BYTES = 2048;
/** A max_tokens number as written. */
const MAX_NUMBER_BYTES = 64;

// Where the scan is. Str/Esc/Hex serve keys and string values alike (#inKey tells them apart).
const S = {
  Value: 0, // a value is expected
  ValueOrEnd: 1, // after '[': a value or ']'
  KeyOrEnd: 2, // after '{'
  Key: 3, // after ',' in an object
  Colon: 4,
  After: 5, // after a value: ',' or the container's close
  Str: 6,
  Esc: 7,
  Hex: 8,
  Minus: 9,
  Zero: 10,
  Int: 11,
  Dot: 12,
  Frac: 13,
  Exp: 14,
  ExpSign: 15,
  ExpInt: 16,
  Lit: 17,
  Done: 18,
  Bom: 19,
} as const;

// What a container is on the wanted path (roles only exist at depths 0-3).
const Role = { Other: 0, Root: 1, Reqs: 2, Elem: 3, Params: 4 } as const;
// What the next value is to the wanted path.
const Slot = { None: 0, Root: 1, Reqs: 2, Elem: 3, Params: 4, Model: 5, MaxTokens: 6 } as const;
type Slot = (typeof Slot)[keyof typeof Slot];

const OBJ = 0;
const ARR = 1;

/** 1 for a byte a string holds as itself (not a quote, a backslash or a control character). */
const PLAIN = new Uint8Array(256).fill(1);
for (let b = 0; b < 0x20; b++) PLAIN[b] = 0;
PLAIN[QUOTE] = 0;
PLAIN[BACKSLASH] = 0;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPES[c.charCodeAt(0)] = 1;
const BOM = [0xef, 0xbb, 0xbf];
const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

const KEY_REQUESTS = Buffer.from('requests');
const KEY_PARAMS = Buffer.from('params');
const KEY_MODEL = Buffer.from('model');
const KEY_MAX_TOKENS = Buffer.from('max_tokens');

const UTF8 = new TextDecoder('utf-8');

function isWs(b: number): boolean {
  return b === SPACE || b === LF || b === CR || b === TAB;
}
function isDigit(b: number): boolean {
  return b >= 48 && b <= 57;
}

export class BatchScan {
  #st: number = S.Bom;
  /** Bytes pushed before the current chunk. */
  #base = 0;
  #reason: BatchUnreadable | null = null;
  readonly #stack = new Uint8Array(MAX_DEPTH);
  #depth = 0;
  readonly #roles = new Uint8Array(4);
  #slot: Slot = Slot.Root;
  #inKey = false;
  #hex = 0;
  #lit: Buffer = LITERALS[0] as Buffer;
  #litAt = 0;
  // The text being kept (a key of a wanted object, a model, a max_tokens), up to #capMax bytes.
  #capOn = false;
  #capOver = false;
  #capLen = 0;
  #capMax = 0;
  #capEsc = false;
  readonly #cap = new Uint8Array(MAX_MODEL_BYTES);
  /** What the body asks for, as far as it is read. */
  readonly #t: BatchTally;
  #paramsStart = 0;

  constructor(opts: BatchScanOptions = {}) {
    this.#t = new BatchTally(opts);
  }

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    let st = this.#st;
    while (i < n && this.#reason === null) {
      // The bulk of a batch is string text: skip its plain bytes in one tight loop.
      if (st === S.Str) {
        const from = i;
        while (i < n && PLAIN[chunk[i] as number] === 1) i++;
        if (this.#capOn) this.#keep(chunk, from, i);
        if (i === n) break;
      }
      const b = chunk[i] as number;
      switch (st) {
        case S.Str:
          if (b === QUOTE) st = this.#endString();
          else if (b === BACKSLASH) {
            st = S.Esc;
            this.#capEsc = true;
            if (this.#capOn) this.#keep(chunk, i, i + 1);
          } else this.#fail('json'); // a control character
          i++;
          continue;
        case S.Esc:
          if (ESCAPES[b] !== 1) this.#fail('json');
          if (this.#capOn) this.#keep(chunk, i, i + 1);
          st = b === 117 ? S.Hex : S.Str; // u
          this.#hex = 0;
          i++;
          continue;
        case S.Hex:
          if (HEX[b] !== 1) this.#fail('json');
          if (this.#capOn) this.#keep(chunk, i, i + 1);
          if (++this.#hex === 4) st = S.Str;
          i++;
          continue;
        case S.Bom:
          // A UTF-8 BOM is not JSON, but upstreams read past it (lib/json-body.ts stripBom).
          if (this.#litAt === 0 && b !== 0xef) {
            st = S.Value;
            continue;
          }
          if (b !== BOM[this.#litAt]) this.#fail('json');
          else if (++this.#litAt === 3) st = S.Value;
          break;
        case S.Value:
        case S.ValueOrEnd:
          if (isWs(b)) break;
          if (b === CLOSE_ARR && st === S.ValueOrEnd) st = this.#close(ARR, this.#base + i);
          else st = this.#value(b, this.#base + i);
          break;
        case S.KeyOrEnd:
        case S.Key:
          if (isWs(b)) break;
          if (b === CLOSE && st === S.KeyOrEnd) st = this.#close(OBJ, this.#base + i);
          else if (b === QUOTE) {
            this.#inKey = true;
            const role = this.#role(this.#depth - 1);
            this.#capture(role === Role.Root || role === Role.Elem || role === Role.Params, MAX_KEY_BYTES);
            st = S.Str;
          } else this.#fail('json');
          break;
        case S.Colon:
          if (isWs(b)) break;
          if (b !== COLON) this.#fail('json');
          st = S.Value;
          break;
        case S.After:
          if (isWs(b)) break;
          st = this.#after(b, this.#base + i);
          break;
        case S.Minus:
          if (b === 48) st = S.Zero;
          else if (isDigit(b)) st = S.Int;
          else this.#fail('json');
          if (this.#capOn) this.#keep(chunk, i, i + 1);
          break;
        case S.Zero:
        case S.Int:
          if (isDigit(b) && st === S.Int) {
            const from = i;
            while (i < n && isDigit(chunk[i] as number)) i++;
            if (this.#capOn) this.#keep(chunk, from, i);
            continue;
          }
          if (b === 46 || b === 101 || b === 69) {
            st = b === 46 ? S.Dot : S.Exp;
            if (this.#capOn) this.#keep(chunk, i, i + 1);
            break;
          }
          st = this.#endNumber();
          continue; // the byte belongs to what follows
        case S.Dot:
        case S.Exp:
        case S.ExpSign:
          if (st === S.Exp && (b === 43 || b === 45)) st = S.ExpSign;
          else if (isDigit(b)) st = st === S.Dot ? S.Frac : S.ExpInt;
          else this.#fail('json');
          if (this.#capOn) this.#keep(chunk, i, i + 1);
          break;
        case S.Frac:
        case S.ExpInt:
          if (isDigit(b)) {
            if (this.#capOn) this.#keep(chunk, i, i + 1);
            break;
          }
          if (st === S.Frac && (b === 101 || b === 69)) {
            st = S.Exp;
            if (this.#capOn) this.#keep(chunk, i, i + 1);
            break;
          }
          st = this.#endNumber();
          continue;
        case S.Lit:
          if (b !== this.#lit[this.#litAt]) this.#fail('json');
          else if (++this.#litAt === this.#lit.length) st = S.After;
          break;
        case S.Done:
          if (!isWs(b)) this.#fail('json'); // JSON.parse refuses anything after the value
          break;
      }
      i++;
    }
    this.#st = st;
    this.#base += n;
  }

  /** The answer for a body whose read stopped before its end (http/batch-body.ts, past max_batch_body_bytes). */
  cut(): BatchScanResult {
    return unreadableBatch('oversized');
  }

  end(): BatchScanResult {
    if (this.#reason === null && this.#st !== S.Done) this.#fail('json');
    return this.#t.result(this.#reason);
  }

  /** The first byte of a value: what it is, and what it means where it stands. */
  #value(b: number, at: number): number {
    const slot = this.#slot;
    if (this.#depth === 0 && b !== OPEN) {
      // Another JSON value, or not JSON at all: unreadable either way.
      this.#fail('shape');
      return S.Value;
    }
    if (b === OPEN || b === OPEN_ARR) {
      const kind = b === OPEN ? OBJ : ARR;
      if (this.#depth === MAX_DEPTH) {
        this.#fail('deep');
        return S.Value;
      }
      this.#stack[this.#depth] = kind;
      let role: number = Role.Other;
      if (slot === Slot.Root) role = Role.Root;
      else if (slot === Slot.Reqs) {
        this.#t.requests(kind === ARR);
        if (kind === ARR) role = Role.Reqs;
      } else if (slot === Slot.Elem) {
        if (kind === OBJ) {
          role = Role.Elem;
          this.#t.element();
        } else this.#t.notAnObject();
      } else if (slot === Slot.Params) {
        this.#t.params(kind === OBJ);
        if (kind === OBJ) {
          role = Role.Params;
          this.#paramsStart = at;
        }
      } else if (slot === Slot.Model) this.#t.model(null);
      else if (slot === Slot.MaxTokens) this.#t.maxTokens(null);
      if (this.#depth < 4) this.#roles[this.#depth] = role;
      this.#depth++;
      if (kind === OBJ) return S.KeyOrEnd;
      this.#slot = role === Role.Reqs ? Slot.Elem : Slot.None;
      return S.ValueOrEnd;
    }
    // A scalar where a container belongs: the shape is wrong (the value is still validated).
    if (slot === Slot.Reqs) this.#t.requests(false);
    else if (slot === Slot.Elem) this.#t.notAnObject();
    else if (slot === Slot.Params) this.#t.params(false);
    if (b === QUOTE) {
      this.#inKey = false;
      this.#capture(slot === Slot.Model, MAX_MODEL_BYTES);
      return S.Str;
    }
    if (slot === Slot.Model) this.#t.model(null);
    if (b === 45 || isDigit(b)) {
      this.#capture(slot === Slot.MaxTokens, MAX_NUMBER_BYTES);
      this.#cap[0] = b;
      this.#capLen = 1;
      return b === 45 ? S.Minus : b === 48 ? S.Zero : S.Int;
    }
    if (slot === Slot.MaxTokens) this.#t.maxTokens(null);
    const lit = b === 116 ? 0 : b === 102 ? 1 : b === 110 ? 2 : -1;
    if (lit === -1) {
      this.#fail('json');
      return S.Value;
    }
    this.#lit = LITERALS[lit] as Buffer;
    this.#litAt = 1;
    return S.Lit;
  }

  /** A byte after a value (at offset `at`): the next member or element, or the container's close. */
  #after(b: number, at: number): number {
    const kind = this.#stack[this.#depth - 1];
    if (b === COMMA) {
      if (kind === OBJ) return S.Key;
      this.#slot = this.#role(this.#depth - 1) === Role.Reqs ? Slot.Elem : Slot.None;
      return S.Value;
    }
    if ((b === CLOSE && kind === OBJ) || (b === CLOSE_ARR && kind === ARR)) return this.#close(kind, at);
    this.#fail('json');
    return S.After;
  }

  /** The close of the innermost container, at offset `at`. */
  #close(kind: number, at: number): number {
    if (this.#stack[this.#depth - 1] !== kind) {
      this.#fail('json');
      return S.After;
    }
    const role = this.#role(this.#depth - 1);
    this.#depth--;
    if (role === Role.Params) this.#t.paramsBytes(at - this.#paramsStart + 1);
    else if (role === Role.Elem) this.#t.endElement();
    return this.#depth === 0 ? S.Done : S.After;
  }

  #role(d: number): number {
    return d < 4 && d >= 0 ? (this.#roles[d] as number) : Role.Other;
  }

  #endString(): number {
    if (this.#inKey) {
      this.#inKey = false;
      this.#slot = this.#capOn ? this.#keySlot() : Slot.None;
      this.#capOn = false;
      return S.Colon;
    }
    const text = this.#capOn ? this.#capText() : undefined;
    this.#capOn = false;
    if (this.#slot === Slot.Model) {
      if (text === undefined) this.#fail('long');
      else this.#t.model(text);
    } else if (this.#slot === Slot.MaxTokens) this.#t.maxTokens(null);
    return this.#depth === 0 ? S.Done : S.After;
  }

  /** The slot of the value after the kept key of a wanted object; keys compared as JSON.parse reads them. */
  #keySlot(): Slot {
    if (this.#capOver) return Slot.None;
    const role = this.#role(this.#depth - 1);
    if (role === Role.Root) return this.#keyIs(KEY_REQUESTS) ? Slot.Reqs : Slot.None;
    if (role === Role.Elem) return this.#keyIs(KEY_PARAMS) ? Slot.Params : Slot.None;
    if (this.#keyIs(KEY_MODEL)) return Slot.Model;
    return this.#keyIs(KEY_MAX_TOKENS) ? Slot.MaxTokens : Slot.None;
  }

  /** Bytes compared unless the key has escapes (rare: then it is unescaped first). */
  #keyIs(want: Buffer): boolean {
    if (this.#capEsc) return this.#capText() === want.toString('latin1');
    if (this.#capLen !== want.length) return false;
    for (let k = 0; k < want.length; k++) if (this.#cap[k] !== want[k]) return false;
    return true;
  }

  #endNumber(): number {
    if (this.#slot === Slot.MaxTokens) {
      if (this.#capOver) this.#fail('long');
      else {
        const v = Number(UTF8.decode(this.#cap.subarray(0, this.#capLen)));
        this.#t.maxTokens(Number.isFinite(v) ? v : null);
      }
    }
    this.#capOn = false;
    return this.#depth === 0 ? S.Done : S.After;
  }

  #capture(on: boolean, max: number): void {
    this.#capOn = on;
    this.#capOver = false;
    this.#capEsc = false;
    this.#capLen = 0;
    this.#capMax = max;
  }

  #keep(chunk: Uint8Array, from: number, to: number): void {
    const len = to - from;
    if (this.#capLen + len > this.#capMax) {
      this.#capOver = true;
      return;
    }
    this.#cap.set(chunk.subarray(from, to), this.#capLen);
    this.#capLen += len;
  }

  /** The kept string, unescaped as JSON.parse would; undefined past its cap. */
  #capText(): string | undefined {
    if (this.#capOver) return undefined;
    const raw = UTF8.decode(this.#cap.subarray(0, this.#capLen));
    return this.#capEsc ? (JSON.parse(`"${raw}"`) as string) : raw;
  }

  #fail(reason: BatchUnreadable): void {
    this.#reason ??= reason;
  }
}

/** Convenience for a whole body (tests, and callers that already hold it). */
export function scanBatch(body: Uint8Array, opts?: BatchScanOptions): BatchScanResult {
  const s = new BatchScan(opts);
  s.push(body);
  return s.end();
}
