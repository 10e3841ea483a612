/**
 * Selected members of a JSON object text that arrives in pieces and may be far larger than
 * anything we keep: an SSE event past `limits.max_sse_event_bytes`, whose usage must not be
 * lost with its bulk. Only the members on the wanted paths are kept, as a JSON object text;
 * the rest is scanned and dropped. Memory is the kept members (at most `maxBytes`) and a few
 * counters, whatever the input's size or nesting depth. Pure.
 *
 * Exactness: on a valid JSON object text, JSON.parse of the result gives the same values on
 * the wanted paths as JSON.parse of the whole text, duplicate keys included (the last wins in
 * both: duplicates are kept in order); keys are compared unescaped, as JSON.parse reads them.
 * Property-tested against JSON.parse in test/unit/lib/json-stream-pick.test.ts.
 */

import { BACKSLASH, CLOSE, CLOSE_ARR, COLON, COMMA, CR, LF, OPEN, OPEN_ARR, QUOTE, SPACE, TAB } from './json-chars.ts';

/** Keys longer than this (bytes, as written) are never wanted ones: they are skipped without being kept. */
const MAX_KEY_BYTES = 64;

/** A wanted subtree: a key maps to its own subtree, or to null when its whole value is kept. */
type Node = Map<string, Node | null>;

// Where the scan is: before the object, in an object on a wanted path (expecting a key or its
// end, in a key, before its colon, before its value, after it), inside a value, or done.
const Mode = { Top: 0, KeyOrEnd: 1, Key: 2, Colon: 3, Value: 4, After: 5, Scan: 6, Done: 7 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

const UTF8 = new TextDecoder('utf-8');
const ENCODER = new TextEncoder();

function isWs(b: number): boolean {
  return b === SPACE || b === LF || b === CR || b === TAB;
}

/** Paths → tree; a path that is a prefix of another keeps the whole value (the shorter wins). */
function tree(paths: readonly (readonly string[])[]): Node {
  const root: Node = new Map();
  for (const path of paths) {
    let node = root;
    path.forEach((key, i) => {
      if (node.get(key) === null) return;
      if (i === path.length - 1) {
        node.set(key, null);
        return;
      }
      let child = node.get(key);
      if (child === undefined) {
        child = new Map();
        node.set(key, child);
      }
      node = child as Node;
    });
  }
  return root;
}

function indexOrEnd(bytes: Uint8Array, b: number, from: number): number {
  const at = bytes.indexOf(b, from);
  return at < 0 ? bytes.length : at;
}

export class JsonStreamPick {
  readonly #maxBytes: number;
  readonly #root: Node;
  #mode: Mode = Mode.Top;
  /** The objects on a wanted path we are inside of, innermost last: their subtree and whether a member was kept. */
  readonly #frames: { node: Node; kept: boolean }[] = [];
  readonly #key = new Uint8Array(MAX_KEY_BYTES);
  #keyLen = 0;
  #keyLong = false;
  #keyEsc = false;
  /** What the value after the current key is: skipped (undefined), kept whole (null), or a subtree to descend. */
  #want: Node | null | undefined = undefined;
  // A value being scanned (kept or skipped): its nesting, and whether inside a string or a bare literal.
  #keep = false;
  #nest = 0;
  #inStr = false;
  #esc = false;
  #lit = false;
  /** Not a JSON object text, or the kept members passed maxBytes: nothing more is read. */
  #failed = false;
  #out = new Uint8Array(256);
  #outLen = 0;

  constructor(paths: readonly (readonly string[])[], maxBytes: number) {
    this.#root = tree(paths);
    this.#maxBytes = maxBytes;
  }

  write(bytes: Uint8Array): void {
    const n = bytes.length;
    let i = 0;
    // The next backslash at or after i (n when none): found once per write, not once per string.
    let nextEsc = -1;
    while (i < n && !this.#failed) {
      const b = bytes[i] as number;
      if (this.#mode === Mode.Scan) {
        if (this.#inStr && !this.#keep && !this.#esc) {
          // Fast path through a skipped string: most of an oversized event is one.
          // indexOf is native: a batch result line's text is scanned at memchr speed, not byte by byte.
          if (nextEsc < i) nextEsc = indexOrEnd(bytes, BACKSLASH, i);
          i = Math.min(indexOrEnd(bytes, QUOTE, i), nextEsc);
          if (i === n) return;
        }
        if (this.#scan(bytes[i] as number)) i++;
        continue;
      }
      this.#step(b);
      i++;
    }
  }

  /** The kept members as a JSON object text; null when the text was not one whole JSON object, or they passed maxBytes. */
  end(): string | null {
    if (this.#failed || this.#mode !== Mode.Done) return null;
    return UTF8.decode(this.#out.subarray(0, this.#outLen));
  }

  /** The text is not a JSON object text (or the kept members passed maxBytes): more input cannot make it one. */
  get failed(): boolean {
    return this.#failed;
  }

  /** One byte outside a scanned value. */
  #step(b: number): void {
    switch (this.#mode) {
      case Mode.Top:
        if (isWs(b)) return;
        if (b !== OPEN) return this.#fail();
        this.#frames.push({ node: this.#root, kept: false });
        this.#emit(OPEN);
        this.#mode = Mode.KeyOrEnd;
        return;
      case Mode.KeyOrEnd:
        if (isWs(b)) return;
        if (b === CLOSE) return this.#close();
        if (b !== QUOTE) return this.#fail();
        this.#keyLen = 0;
        this.#keyLong = false;
        this.#keyEsc = false;
        this.#mode = Mode.Key;
        return;
      case Mode.Key:
        if (!this.#keyEsc && b === QUOTE) {
          this.#mode = Mode.Colon;
          return;
        }
        this.#keyEsc = !this.#keyEsc && b === BACKSLASH;
        if (this.#keyLen < MAX_KEY_BYTES) this.#key[this.#keyLen++] = b;
        else this.#keyLong = true;
        return;
      case Mode.Colon:
        if (isWs(b)) return;
        if (b !== COLON) return this.#fail();
        {
          const key = this.#keyLong ? undefined : this.#keyText();
          this.#want = key === undefined ? undefined : this.#top().node.get(key);
        }
        this.#mode = Mode.Value;
        return;
      case Mode.Value:
        if (isWs(b)) return;
        if (this.#want instanceof Map && b === OPEN) {
          this.#emitKey();
          this.#emit(OPEN);
          this.#frames.push({ node: this.#want, kept: false });
          this.#mode = Mode.KeyOrEnd;
          return;
        }
        // A wanted path through a value that is not an object: JSON.parse would give that value, so keep it whole.
        this.#keep = this.#want !== undefined;
        if (this.#keep) this.#emitKey();
        this.#nest = 0;
        this.#inStr = false;
        this.#esc = false;
        this.#lit = false;
        this.#mode = Mode.Scan;
        this.#scan(b);
        return;
      case Mode.After:
        if (isWs(b)) return;
        if (b === COMMA) this.#mode = Mode.KeyOrEnd;
        else if (b === CLOSE) this.#close();
        else this.#fail();
        return;
      case Mode.Done:
        if (!isWs(b)) this.#fail(); // JSON.parse refuses anything after the object
        return;
      default:
        return;
    }
  }

  /** One byte of a value being scanned; false when the byte ended a bare literal and belongs to what follows. */
  #scan(b: number): boolean {
    if (this.#inStr) {
      if (this.#esc) this.#esc = false;
      else if (b === BACKSLASH) this.#esc = true;
      else if (b === QUOTE) this.#inStr = false;
      if (this.#keep) this.#emit(b);
      if (!this.#inStr && this.#nest === 0) this.#mode = Mode.After;
      return true;
    }
    if (this.#lit) {
      if (b === COMMA || b === CLOSE || b === CLOSE_ARR || isWs(b)) {
        this.#mode = Mode.After;
        return false;
      }
      if (b === QUOTE || b === OPEN || b === OPEN_ARR || b === COLON) this.#fail();
      else if (this.#keep) this.#emit(b);
      return true;
    }
    if (this.#keep) this.#emit(b);
    if (b === QUOTE) this.#inStr = true;
    else if (b === OPEN || b === OPEN_ARR) this.#nest++;
    else if (b === CLOSE || b === CLOSE_ARR) {
      if (this.#nest === 0) this.#fail();
      else if (--this.#nest === 0) this.#mode = Mode.After;
    } else if (this.#nest === 0) {
      if (b === COMMA || b === COLON) this.#fail();
      else this.#lit = true;
    }
    return true;
  }

  #top(): { node: Node; kept: boolean } {
    return this.#frames[this.#frames.length - 1] as { node: Node; kept: boolean };
  }

  #keyText(): string | undefined {
    const raw = this.#key.subarray(0, this.#keyLen);
    if (!raw.includes(BACKSLASH)) return UTF8.decode(raw);
    try {
      return JSON.parse(`"${UTF8.decode(raw)}"`) as string;
    } catch {
      return undefined;
    }
  }

  /** `"key":` of the current member, after a comma when its object already kept one. */
  #emitKey(): void {
    const f = this.#top();
    if (f.kept) this.#emit(COMMA);
    f.kept = true;
    this.#emit(QUOTE);
    for (let i = 0; i < this.#keyLen; i++) this.#emit(this.#key[i] as number);
    this.#emit(QUOTE);
    this.#emit(COLON);
  }

  #close(): void {
    this.#frames.pop();
    this.#emit(CLOSE);
    this.#mode = this.#frames.length === 0 ? Mode.Done : Mode.After;
  }

  #emit(b: number): void {
    if (this.#outLen >= this.#maxBytes) return this.#fail();
    if (this.#outLen === this.#out.length) {
      const grown = new Uint8Array(Math.min(this.#maxBytes, this.#out.length * 2));
      grown.set(this.#out);
      this.#out = grown;
    }
    this.#out[this.#outLen++] = b;
  }

  #fail(): void {
    this.#failed = true;
    this.#out = new Uint8Array(0);
    this.#outLen = 0;
  }
}

/** Convenience for a whole text (tests, and callers that already hold it). */
export function pickPaths(text: string, paths: readonly (readonly string[])[], maxBytes: number): string | null {
  const p = new JsonStreamPick(paths, maxBytes);
  p.write(ENCODER.encode(text));
  return p.end();
}
