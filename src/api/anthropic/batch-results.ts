/**
 * The results of a Message Batch (`GET /v1/messages/batches/{id}/results`), read as they
 * download. Pure: bytes in, lines out, no I/O.
 *
 * Protocol facts (Anthropic's Message Batches documentation):
 * - The body is JSONL: one `{"custom_id", "result"}` object per request of the batch, in no
 *   particular order. `result.type` is `succeeded` (with the full `message`, whose `usage` is
 *   billed at batch prices), `errored`, `canceled` or `expired` (not billed).
 * - A `custom_id` is 1 to 64 characters.
 * - A succeeded line holds a whole Message: hundreds of KB with long outputs.
 *
 * No line is ever held whole: each line's bytes stream through a JsonStreamPick that keeps
 * only the members read here (custom_id, result.type, result.message.{usage, model, id}), so
 * memory is at most `maxKeptBytes` whatever a line's size. A line is ended by LF only (JSON
 * escapes every LF inside a string), so a chunk may split anywhere, inside a multibyte
 * character included: the pick reads bytes, never decoded text. A CR before the LF is white
 * space after the object.
 *
 * Usage is read by the dialect's own body reader (`parseMessageBody`, the same validation as a
 * non-streaming Message), so counters mean exactly what they mean for any other request.
 */
import { LF } from '../../lib/json-chars.ts';
import { JsonStreamPick } from '../../lib/json-stream-pick.ts';
import type { Usage } from '../../core/usage.ts';
import { isRecord, parseMessageBody } from './usage.ts';

export type BatchResultType = 'succeeded' | 'errored' | 'canceled' | 'expired' | 'unknown';

/** One line of a batch's results, as far as metering needs it. */
export interface BatchResultLine {
  customId: string;
  /** `unknown`: a `result.type` this build does not know (a newer API). */
  type: BatchResultType;
  /**
   * Succeeded lines only. Null on a succeeded line means its usage was absent or invalid: the
   * request was billed but its usage cannot be read (record it as usage missing, never as $0).
   * Its `serviceTier` is `batch` unless the line itself names a tier.
   */
  usage: Usage | null;
  model: string | null;
  messageId: string | null;
}

/** What `end()` adds to the lines already returned. */
export interface BatchResultsEnd {
  /** The last line, when it was complete without a final newline. */
  lines: BatchResultLine[];
  /** The body ended inside a line (a cut download): that partial line was not returned. */
  cut: boolean;
}

/** The API's bound on a custom_id; a longer one is not a result line (a hostile or broken upstream). */
export const MAX_CUSTOM_ID_CHARS = 64;

const PATHS = [
  ['custom_id'],
  ['result', 'type'],
  ['result', 'message', 'usage'],
  ['result', 'message', 'model'],
  ['result', 'message', 'id'],
] as const;

const KNOWN_TYPES: ReadonlySet<string> = new Set(['succeeded', 'errored', 'canceled', 'expired']);

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === LF;
}

export class BatchResultsReader {
  readonly #maxKeptBytes: number;
  /** The current line's pick; null between lines until a byte other than white space arrives. */
  #pick: JsonStreamPick | null = null;
  #lines = 0;
  #malformed = 0;

  /**
   * `maxKeptBytes`: the most one line may keep of its wanted members (e.g. the proxy's
   * `limits.max_json_body_bytes`); a line whose kept members pass it is malformed. The line
   * itself may be any size: its other members are scanned and dropped.
   */
  constructor(maxKeptBytes: number) {
    if (!Number.isSafeInteger(maxKeptBytes) || maxKeptBytes <= 0) {
      throw new RangeError(`BatchResultsReader maxKeptBytes must be a positive integer, got ${maxKeptBytes}`);
    }
    this.#maxKeptBytes = maxKeptBytes;
  }

  /** Result lines returned so far. */
  get lines(): number {
    return this.#lines;
  }

  /** Lines that were not a result line (not JSON, no valid custom_id or result.type, kept members too large): never returned. */
  get malformed(): number {
    return this.#malformed;
  }

  /** The lines completed by `chunk`, in order. Blank lines are skipped. */
  push(chunk: Uint8Array): BatchResultLine[] {
    const out: BatchResultLine[] = [];
    let start = 0;
    while (start <= chunk.length) {
      const lf = chunk.indexOf(LF, start);
      const stop = lf < 0 ? chunk.length : lf;
      this.#feed(chunk, start, stop);
      if (lf < 0) break;
      this.#endLine(out);
      start = lf + 1;
    }
    return out;
  }

  /** The body ended: a last line without its newline is read if complete, else reported as cut. */
  end(): BatchResultsEnd {
    const pick = this.#pick;
    if (pick === null) return { lines: [], cut: false };
    const text = pick.end();
    if (text === null && !pick.failed) {
      this.#pick = null;
      return { lines: [], cut: true };
    }
    const lines: BatchResultLine[] = [];
    this.#endLine(lines);
    return { lines, cut: false };
  }

  #feed(chunk: Uint8Array, start: number, stop: number): void {
    let i = start;
    if (this.#pick === null) {
      while (i < stop && isWs(chunk[i] as number)) i++;
      if (i === stop) return;
      this.#pick = new JsonStreamPick(PATHS, this.#maxKeptBytes);
    }
    this.#pick.write(chunk.subarray(i, stop));
  }

  #endLine(out: BatchResultLine[]): void {
    const pick = this.#pick;
    if (pick === null) return; // a blank line
    this.#pick = null;
    const line = readLine(pick.end());
    if (line === null) this.#malformed++;
    else {
      this.#lines++;
      out.push(line);
    }
  }
}

/** A line's kept members (a JSON object text, or null when the line was not one) → its result, or null when malformed. */
export function readLine(picked: string | null): BatchResultLine | null {
  if (picked === null) return null;
  let o: Record<string, unknown>;
  try {
    // The pick checks a line's structure, not the literals it keeps (`"custom_id": nul`).
    o = JSON.parse(picked) as Record<string, unknown>;
  } catch {
    return null;
  }
  const customId = o.custom_id;
  if (typeof customId !== 'string' || customId === '' || customId.length > MAX_CUSTOM_ID_CHARS) return null;
  const result = o.result;
  if (!isRecord(result) || typeof result.type !== 'string') return null;
  const type = (KNOWN_TYPES.has(result.type) ? result.type : 'unknown') as BatchResultType;
  if (type !== 'succeeded') return { customId, type, usage: null, model: null, messageId: null };
  const body = parseMessageBody(result.message);
  const usage = body.usage;
  // Every result is billed at batch prices; a line that names no tier is still one.
  if (usage !== null && usage.serviceTier === null) usage.serviceTier = 'batch';
  return { customId, type, usage, model: body.model, messageId: body.messageId };
}
