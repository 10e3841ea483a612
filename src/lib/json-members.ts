/**
 * Selected top-level members of a JSON object text, without building the whole object.
 *
 * Why: a large response or request body is mostly generated text, prompt or tool input,
 * while metering reads a few small members (the dialect names them). JSON.parse
 * materialises every string and object; this scan skips strings with `indexOf('"')`,
 * counts nesting, and parses only the members asked for. Pure.
 *
 * Exactness: on any valid JSON object text the result equals what JSON.parse would give
 * for those members, the last of duplicate keys winning as in JSON.parse (property-tested
 * against JSON.parse in test/unit/lib/json-members.test.ts). It checks the structure
 * (quotes, brackets, commas, colons, nothing after the object) but not the spelling of
 * primitives outside the members it returns, so a body that is broken only there still
 * yields its usage: the upstream billed it either way.
 */

import { BACKSLASH, CLOSE, CLOSE_ARR, COLON, COMMA, CR, LF, OPEN, OPEN_ARR, QUOTE, SPACE, TAB } from './json-chars.ts';

/**
 * From this size picking members beats JSON.parse of the whole text: the scan costs 90% of
 * JSON.parse's time at 2.4 KB, 57% at 7 KB and 31% at 57 KB, but 110% at 1.4 KB
 * (bench/json-members.ts). Below it, callers parse the whole text.
 */
export const PICK_MIN_BYTES = 2048;

/** The index of the first character at or after `i` that is not JSON white space. */
export function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) return i;
    i++;
  }
}

/** `s[i]` is an opening quote: the index of its closing quote, or -1. */
export function stringEnd(s: string, i: number): number {
  let j = i;
  for (;;) {
    j = s.indexOf('"', j + 1);
    if (j === -1) return -1;
    let k = j - 1;
    while (s.charCodeAt(k) === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j; // an even run of backslashes: the quote is not escaped
  }
}

/** `s[i]` starts a value: the index just past it, or -1 when the structure is broken. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) {
    const e = stringEnd(s, i);
    return e === -1 ? -1 : e + 1;
  }
  if (c === OPEN || c === OPEN_ARR) return nestedEnd(s, i);
  // A number, true, false or null: runs to the next delimiter.
  let j = i;
  for (;;) {
    const d = s.charCodeAt(j);
    if (
      Number.isNaN(d) /* end of text */ ||
      d === COMMA ||
      d === CLOSE ||
      d === CLOSE_ARR ||
      d === SPACE ||
      d === LF ||
      d === CR ||
      d === TAB
    )
      break;
    if (d === QUOTE || d === OPEN || d === OPEN_ARR || d === COLON) return -1;
    j++;
  }
  return j === i ? -1 : j;
}

/** `s[i]` is `{` or `[`: the index just past its matching closer, or -1. */
function nestedEnd(s: string, i: number): number {
  const closers: number[] = [s.charCodeAt(i) === OPEN ? CLOSE : CLOSE_ARR];
  let j = i + 1;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === QUOTE) {
      const e = stringEnd(s, j);
      if (e === -1) return -1;
      j = e + 1;
      continue;
    }
    if (c === OPEN) closers.push(CLOSE);
    else if (c === OPEN_ARR) closers.push(CLOSE_ARR);
    else if (c === CLOSE || c === CLOSE_ARR) {
      if (closers.pop() !== c) return -1;
      if (closers.length === 0) return j + 1;
    }
    j++;
  }
  return -1;
}

/**
 * The wanted top-level members of the JSON object in `s`, as the text of a JSON object
 * holding only them (in their order, duplicates kept: JSON.parse then keeps the last, as it
 * would on `s`); or null when `s` is not a JSON object text (as far as its structure shows).
 */
export function pickMembers(s: string, wanted: ReadonlySet<string>): string | null {
  const spans = memberSpans(s);
  if (spans === null) return null;
  let out = '';
  for (const m of spans.members) {
    if (wanted.has(m.key)) out += `${out === '' ? '' : ','}${s.slice(m.start, m.keyEnd)}:${s.slice(m.valueStart, m.valueEnd)}`;
  }
  return `{${out}}`;
}

/**
 * The wanted members of the JSON object in `s`, parsed, as a plain object; or undefined
 * when `s` is not a JSON object text or a wanted member is not valid JSON. Other valid JSON
 * (an array, a string) is parsed whole, so callers see exactly what JSON.parse would give.
 */
export function parsePicked(s: string, wanted: ReadonlySet<string>): unknown {
  try {
    // One JSON.parse of the few members kept; when the scan refuses the text (not an
    // object, or broken), JSON.parse of the whole says what it is, as before.
    return JSON.parse(pickMembers(s, wanted) ?? s) as unknown;
  } catch {
    return undefined;
  }
}

/** Where one top-level member of a JSON object text is, as indices into the text. */
export interface MemberSpan {
  /** The key, unescaped (as JSON.parse reads it). */
  readonly key: string;
  /** The key's opening quote. */
  readonly start: number;
  /** Just past the key's closing quote: [start, keyEnd) is the key as written. */
  readonly keyEnd: number;
  readonly valueStart: number;
  /** Just past the value. */
  readonly valueEnd: number;
}

/**
 * The top-level members of the JSON object in `s`, in order and duplicates kept, for an edit
 * that must leave every other byte as it was (splice a member out, replace a value); null when
 * `s` is not a JSON object text, as far as its structure shows (the same checks as pickMembers).
 * `open` is the index of the object's `{`. Structural characters are ASCII, so a text decoded
 * as latin1 gives byte offsets.
 */
export function memberSpans(s: string): { open: number; members: MemberSpan[] } | null {
  const members: MemberSpan[] = [];
  const open = skipWs(s, 0);
  if (s.charCodeAt(open) !== OPEN) return null;
  let i = skipWs(s, open + 1);
  if (s.charCodeAt(i) === CLOSE) return skipWs(s, i + 1) === s.length ? { open, members } : null;
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return null;
    const start = i;
    const keyEnd = stringEnd(s, i);
    if (keyEnd === -1) return null;
    let key = s.slice(i + 1, keyEnd);
    if (key.includes('\\')) {
      try {
        key = JSON.parse(`"${key}"`) as string;
      } catch {
        return null;
      }
    }
    i = skipWs(s, keyEnd + 1);
    if (s.charCodeAt(i) !== COLON) return null;
    const valueStart = skipWs(s, i + 1);
    const end = valueEnd(s, valueStart);
    if (end === -1) return null;
    members.push({ key, start, keyEnd: keyEnd + 1, valueStart, valueEnd: end });
    i = skipWs(s, end);
    const c = s.charCodeAt(i);
    if (c === COMMA) {
      i = skipWs(s, i + 1);
      continue;
    }
    if (c !== CLOSE) return null;
    return skipWs(s, i + 1) === s.length ? { open, members } : null;
  }
}
