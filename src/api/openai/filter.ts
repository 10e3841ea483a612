/**
 * Takes back out of a chat completion stream what the proxy's `include_usage` (rewrite.ts)
 * added, so the client receives what it would have without it:
 * - the `"usage":null` member OpenAI adds to every chunk;
 * - the final usage-only chunk (`choices` empty), dropped whole;
 * - a usage a relay put on a chunk that also has choices: that member only.
 * Each change is one cut out of the bytes (a member with its comma, or a whole event): every
 * other byte passes as it came (comments, `[DONE]`, events without a usage member, line
 * endings, the rest of a changed chunk). The upstream's bytes still reach the usage tap unfiltered.
 *
 * Events end at a blank line (LF, CRLF or CR endings). At most one incomplete event is held
 * back across chunks; a chunk that ends in CR holds its event back too, since the LF of a CRLF
 * may open the next chunk. An event whose data is not one line of a JSON object passes as it is.
 */
import type { ResponseFilter } from '../../core/dialect.ts';
import { COMMA, CR, LF } from '../../lib/json-chars.ts';
import { memberSpans, type MemberSpan } from '../../lib/json-members.ts';

const USAGE = Buffer.from('"usage"');
const NULL_USAGE = Buffer.from('"usage":null}');
const DATA = Buffer.from('data:');
const EMPTY = Buffer.alloc(0);
const EMPTY_ARRAY = /^\[\s*\]$/;
/**
 * An event held back past this is no chat chunk (OpenAI's are a few hundred bytes): the filter
 * then passes the rest of the stream as it comes, so an upstream that never ends an event
 * cannot make the proxy hold its response (the usage tap bounds its own copy the same way).
 */
export const MAX_HELD_BYTES = 1024 * 1024;

/** Bytes [from, to) of a buffer to leave out. */
type Cut = readonly [from: number, to: number];

export class IncludeUsageFilter implements ResponseFilter {
  /** The start of the event under way, from an earlier chunk. */
  #held: Buffer = EMPTY;
  /** An event outgrew MAX_HELD_BYTES: everything passes unchanged from there on. */
  #passing = false;

  push(chunk: Buffer): Buffer {
    if (this.#passing) return chunk;
    const buf = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    // Cuts found, as [from, to) pairs into buf: the output is buf without them, copied once.
    const cuts: number[] = [];
    let eventStart = 0;
    let lineStart = 0;
    // The event under way: its lines so far, and where its first one ends.
    let lines = 0;
    let firstEnd = -1;
    // Next positions of a line end and of `"usage"`, each searched once (-1: none left in buf).
    let nextLF = -2;
    let nextCR = -2;
    let nextUsage = -2;
    while (lineStart < buf.length) {
      if (nextLF !== -1 && nextLF < lineStart) nextLF = buf.indexOf(LF, lineStart);
      if (nextCR !== -1 && nextCR < lineStart) nextCR = buf.indexOf(CR, lineStart);
      const end = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
      if (end === -1) break;
      let after = end + 1;
      if (buf[end] === CR) {
        if (end + 1 === buf.length) break; // CR last: the LF of a CRLF may come next
        if (buf[end + 1] === LF) after = end + 2;
      }
      if (end === lineStart) {
        // A blank line: the event [eventStart, after) is whole.
        if (nextUsage !== -1 && nextUsage < eventStart) nextUsage = buf.indexOf(USAGE, eventStart);
        if (nextUsage !== -1 && nextUsage < after) {
          const cut = cutOf(buf, eventStart, after, nextUsage, lines === 1 ? firstEnd : -1);
          if (cut !== null) cuts.push(cut[0], cut[1]);
        }
        eventStart = after;
        lines = 0;
      } else if (lines++ === 0) firstEnd = end;
      lineStart = after;
    }
    if (buf.length - eventStart > MAX_HELD_BYTES) {
      // No chat chunk is this long: let the event (and the rest of the stream) pass as it comes.
      this.#passing = true;
      this.#held = EMPTY;
      return cuts.length === 0 ? buf : Buffer.concat([without(buf, eventStart, cuts), buf.subarray(eventStart)]);
    }
    // Copied: the caller may reuse the chunk it handed over.
    this.#held = eventStart === buf.length ? EMPTY : Buffer.from(buf.subarray(eventStart));
    return without(buf, eventStart, cuts);
  }

  /** The upstream's body ended (or was cut): the held event, edited like a whole one when it can be. */
  end(): Buffer {
    const held = this.#held;
    this.#held = EMPTY;
    const at = held.indexOf(USAGE);
    const cut = at === -1 ? null : cutOf(held, 0, held.length, at, -1);
    return without(held, held.length, cut ?? []);
  }
}

/** Bytes [0, end) of `buf` without the cuts (ordered, disjoint pairs). */
function without(buf: Buffer, end: number, cuts: readonly number[]): Buffer {
  if (cuts.length === 0) return buf.subarray(0, end);
  let removed = 0;
  for (let i = 0; i < cuts.length; i += 2) removed += (cuts[i + 1] as number) - (cuts[i] as number);
  const out = Buffer.allocUnsafe(end - removed);
  let from = 0;
  let at = 0;
  for (let i = 0; i < cuts.length; i += 2) {
    at += buf.copy(out, at, from, cuts[i]);
    from = cuts[i + 1] as number;
  }
  buf.copy(out, at, from, end);
  return out;
}

/**
 * What to cut out of the event [start, end) of `buf`, whose first `"usage"` is at `at`; null
 * when it passes unchanged. `lineEnd`: where the event's only line ends, when it has one line (else -1).
 */
function cutOf(buf: Buffer, start: number, end: number, at: number, lineEnd: number): Cut | null {
  if (lineEnd === at + NULL_USAGE.length && lastNullUsage(buf, start, at)) return [at - 1, lineEnd - 1];
  // latin1: one character per byte, so the text's indices are the event's byte offsets.
  const ev = buf.toString('latin1', start, end);
  const data = dataLine(ev);
  if (data === null) return null;
  const json = ev.slice(data.start, data.end);
  const spans = memberSpans(json);
  if (spans === null) return null;
  const usage = spans.members.filter((m) => m.key === 'usage');
  // Two usage members: no cut would leave exactly what the upstream sends unasked.
  if (usage.length !== 1) return null;
  const u = usage[0] as MemberSpan;
  if (json.slice(u.valueStart, u.valueEnd) !== 'null' && choicesEmpty(json, spans.members)) return [start, end];
  const [from, to] = memberCut(spans.members, spans.members.indexOf(u));
  return [start + data.start + from, start + data.start + to];
}

/**
 * OpenAI's own chunk, the common case, without a scan: an event of one data line that ends in
 * `,"usage":null}` (the caller checked where the line ends), its first `"usage"` there. That `}`
 * ends the line, so it closes the chunk's object and the member is a top-level one, the only
 * `"usage"` key of the event: cutting `,"usage":null` leaves exactly the chunk as sent unasked.
 */
function lastNullUsage(buf: Buffer, start: number, at: number): boolean {
  return (
    buf[at - 1] === COMMA &&
    at - start > DATA.length &&
    buf.compare(DATA, 0, DATA.length, start, start + DATA.length) === 0 &&
    buf.compare(NULL_USAGE, 0, NULL_USAGE.length, at, at + NULL_USAGE.length) === 0
  );
}

/** The value of the event's one `data` line, as [start, end) of its text; null unless it has exactly one. */
function dataLine(ev: string): { start: number; end: number } | null {
  let found: { start: number; end: number } | null = null;
  let i = 0;
  while (i < ev.length) {
    let end = i;
    while (end < ev.length && ev.charCodeAt(end) !== LF && ev.charCodeAt(end) !== CR) end++;
    if (ev.startsWith('data:', i)) {
      if (found !== null) return null;
      const value = ev.charCodeAt(i + 5) === 0x20 ? i + 6 : i + 5;
      found = { start: Math.min(value, end), end };
    } else if (end - i === 4 && ev.startsWith('data', i)) return null; // `data` alone: an empty data line
    i = end + (ev.charCodeAt(end) === CR && ev.charCodeAt(end + 1) === LF ? 2 : 1);
  }
  return found;
}

/** The chunk has no choices (or an empty list of them): it exists only for its usage. */
function choicesEmpty(json: string, members: readonly MemberSpan[]): boolean {
  const choices = members.filter((m) => m.key === 'choices').at(-1);
  return choices === undefined || EMPTY_ARRAY.test(json.slice(choices.valueStart, choices.valueEnd));
}

/** The span to cut for member `k`: with the comma after it, or, the last one, the comma before it. */
function memberCut(members: readonly MemberSpan[], k: number): Cut {
  const m = members[k] as MemberSpan;
  const next = members[k + 1];
  if (next !== undefined) return [m.start, next.start];
  const prev = members[k - 1];
  return prev !== undefined ? [prev.valueEnd, m.valueEnd] : [m.start, m.valueEnd];
}
