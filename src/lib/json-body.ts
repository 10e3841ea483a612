/**
 * A request body's top-level JSON object as the meter reads it: the members a dialect's facts
 * need (a large body is only scanned for them), and whether a member is named twice with
 * different values. Every dialect's request facts read bodies this way. Pure.
 */
import { bounded } from '../core/bound.ts';
import type { RequestFacts } from '../core/request.ts';
import { pickMembers, PICK_MIN_BYTES } from './json-members.ts';

/** A UTF-8 byte order mark is not JSON, but upstreams read past it: so does the meter. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export interface BodyObject {
  /** The body's members (from PICK_MIN_BYTES only the wanted ones). */
  readonly members: Record<string, unknown>;
  /** The wanted top-level members as pickMembers kept them (duplicates included); null when the small body was parsed whole. */
  readonly picked: string | null;
}

/**
 * The top-level object of a request body, or null when the body is not a JSON object. From
 * PICK_MIN_BYTES only its structure and the wanted members are checked (lib/json-members.ts),
 * so a body broken elsewhere still yields them; invalid JSON is the upstream's to reject.
 */
export function bodyObject(body: Buffer, wanted: ReadonlySet<string>): BodyObject | null {
  let json: unknown;
  let picked: string | null = null;
  try {
    const text = stripBom(body.toString('utf8'));
    if (body.length >= PICK_MIN_BYTES) {
      picked = pickMembers(text, wanted);
      json = JSON.parse(picked ?? text);
    } else json = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  return { members: json as Record<string, unknown>, picked };
}

const ESCAPE = Buffer.from('\\u');
/** One top-level member of pickMembers' output whose value is a JSON string: `"<key>":"<value>"` then `,` or `}`. */
const STRING_MEMBER = /"(?:[^"\\]|\\.)*":("(?:[^"\\]|\\.)*")[,}]/y;
const KEY_COLON = /"(?:[^"\\]|\\.)*"\s*:/g;

/**
 * A check of whether the top level of a body names `key` twice with different values (JSON
 * parsers disagree on which one wins, so an upstream may read another value than the meter).
 * The common body spells the key once, so one byte search settles it; only a second `"<key>"`
 * anywhere (a nested property, a duplicate) pays for a member scan. Give it the members a large
 * body's scan kept (BodyObject.picked) rather than the body: no second pass over the bulk.
 */
export function namedTwice(key: string): (body: Buffer) => boolean {
  const quoted = Buffer.from(JSON.stringify(key));
  const only: ReadonlySet<string> = new Set([key]);
  return (body) => {
    const first = body.indexOf(quoted);
    // A key can also be spelled with escapes (`"mod\u0065l"`): then the member scan decides too.
    if ((first === -1 || body.indexOf(quoted, first + quoted.length) === -1) && body.indexOf(ESCAPE) === -1) return false;
    const picked = pickMembers(stripBom(body.toString('utf8')), only);
    if (picked === null || picked === '{}') return false;
    const values = new Set<string>();
    let end = 1;
    STRING_MEMBER.lastIndex = 1;
    for (let m = STRING_MEMBER.exec(picked); m !== null; m = STRING_MEMBER.exec(picked)) {
      values.add(JSON.parse(m[1] ?? '""') as string);
      end = STRING_MEMBER.lastIndex;
    }
    if (end === picked.length) return values.size > 1;
    // Some value is not a string: ambiguous as soon as there are two of them.
    try {
      return (JSON.parse(`[${picked.slice(1, -1).replace(KEY_COLON, '')}]`) as unknown[]).length > 1;
    } catch {
      return true;
    }
  };
}

/**
 * The request facts every dialect reads from a body: `model` (bounded: it names a label, a budget
 * instance, a record field and a log field), `stream`, and the output cap under any of `capKeys`
 * (the largest given: a budget is better reserved a little high), with the duplicate-model check.
 * A large body's members were scanned already: that check reads only what the scan kept.
 */
export function requestFactsReader(capKeys: readonly string[]): (body: Buffer) => RequestFacts {
  const wanted: ReadonlySet<string> = new Set(['model', 'stream', ...capKeys]);
  const modelNamedTwice = namedTwice('model');
  return (body) => {
    const facts: RequestFacts = { model: null, stream: false, maxTokens: null, bytes: body.length, parsed: false };
    const read = bodyObject(body, wanted);
    if (read === null) return facts;
    const o = read.members;
    facts.parsed = true;
    if (modelNamedTwice(read.picked === null ? body : Buffer.from(read.picked))) facts.conflict = 'model';
    if (typeof o['model'] === 'string') facts.model = bounded(o['model']);
    facts.stream = o['stream'] === true;
    for (const k of capKeys) {
      const v = o[k];
      if (typeof v === 'number' && Number.isFinite(v) && (facts.maxTokens === null || v > facts.maxTokens)) facts.maxTokens = v;
    }
    return facts;
  };
}
