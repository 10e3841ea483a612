/**
 * The one request rewrite of the OpenAI dialect: a streamed chat completion reports its usage
 * only when asked (`stream_options.include_usage`), so the proxy asks for the client that did
 * not, and takes back out of the response exactly what asking added (filter.ts).
 *
 * The body is edited as bytes, not re-serialized: every byte outside the edit stays as the client
 * sent it (numbers past 2^53, key order, escapes, duplicate members). Pure.
 */
import type { RequestRewrite } from '../../core/dialect.ts';
import { memberSpans } from '../../lib/json-members.ts';
import { IncludeUsageFilter } from './filter.ts';

const BOM = '\u00ef\u00bb\u00bf'; // EF BB BF, a UTF-8 byte order mark read as latin1
const ASK = '{"include_usage":true}';

/**
 * The body with `stream_options.include_usage: true`, or null when it needs none or cannot
 * safely get one: the client asked already; the body is not a JSON object; `stream_options` is
 * named twice (which one the upstream reads is unknown) or is neither an object nor null.
 * Its other `stream_options` members are kept.
 */
export function askForUsage(body: Buffer): Buffer | null {
  // latin1: one character per byte, so the scan's indices are byte offsets; JSON's structure is ASCII.
  const text = body.toString('latin1');
  const skip = text.startsWith(BOM) ? BOM.length : 0;
  const spans = memberSpans(skip === 0 ? text : text.slice(skip));
  if (spans === null) return null;
  const named = spans.members.filter((m) => m.key === 'stream_options');
  if (named.length > 1) return null;
  const member = named[0];
  if (member === undefined) {
    const at = skip + spans.open + 1;
    const comma = spans.members.length > 0 ? ',' : '';
    return splice(body, at, at, `"stream_options":${ASK}${comma}`);
  }
  const start = skip + member.valueStart;
  const end = skip + member.valueEnd;
  // The value as UTF-8 (a string member of it may hold any character).
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8', start, end));
  } catch {
    return null;
  }
  if (value === null) return splice(body, start, end, ASK);
  if (typeof value !== 'object' || Array.isArray(value)) return null;
  const options = value as Record<string, unknown>;
  if (options['include_usage'] === true) return null;
  return splice(body, start, end, JSON.stringify({ ...options, include_usage: true }));
}

function splice(body: Buffer, start: number, end: number, insert: string): Buffer {
  return Buffer.concat([body.subarray(0, start), Buffer.from(insert, 'utf8'), body.subarray(end)]);
}

/** The rewrite for a streamed chat completion's body, or null (see askForUsage). */
export function includeUsageRewrite(body: Buffer): RequestRewrite | null {
  const rewritten = askForUsage(body);
  if (rewritten === null) return null;
  return {
    body: rewritten,
    reason: 'include_usage',
    responseFilter: (contentType) => (isEventStream(contentType) ? new IncludeUsageFilter() : null),
  };
}

function isEventStream(contentType: string | undefined): boolean {
  return (contentType?.split(';')[0] ?? '').trim().toLowerCase() === 'text/event-stream';
}
