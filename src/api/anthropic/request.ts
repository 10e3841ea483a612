import { bounded } from '../../core/bound.ts';
import type { HeaderFacts } from '../../core/dialect.ts';
import type { RequestFacts } from '../../core/request.ts';
import { pickMembers, PICK_MIN_BYTES } from '../../lib/json-members.ts';

type Headers = Record<string, string | string[] | undefined>;

const REQUEST_MEMBERS: ReadonlySet<string> = new Set(['model', 'stream', 'max_tokens']);
const NO_BETAS: readonly string[] = Object.freeze([]);

/**
 * The Messages request fields that metering and budgets read. From 2 KB only their structure
 * and these members are checked (lib/json-members.ts), so a body broken elsewhere still yields
 * them; invalid JSON is the upstream's to reject, and is forwarded unchanged either way.
 */
export function requestFacts(body: Buffer): RequestFacts {
  const facts: RequestFacts = { model: null, stream: false, maxTokens: null, bytes: body.length, parsed: false };
  let json: unknown;
  // The top-level members read, as pickMembers gives them (duplicates kept); null: the whole small body.
  let picked: string | null = null;
  try {
    // A UTF-8 byte order mark is not JSON, but the upstream reads past it: so does the meter.
    const text = stripBom(body.toString('utf8'));
    if (body.length >= PICK_MIN_BYTES) {
      picked = pickMembers(text, REQUEST_MEMBERS);
      json = JSON.parse(picked ?? text);
    } else json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return facts;
  const o = json as Record<string, unknown>;
  facts.parsed = true;
  // A large body's members were scanned already: the conflict check reads only what was kept.
  if (modelNamedTwice(picked === null ? body : Buffer.from(picked))) facts.conflict = 'model';
  // Bounded here, where the request's facts are read: the model names a label, a budget instance, a record field and a log field.
  if (typeof o['model'] === 'string') facts.model = bounded(o['model']);
  facts.stream = o['stream'] === true;
  if (typeof o['max_tokens'] === 'number' && Number.isFinite(o['max_tokens'])) facts.maxTokens = o['max_tokens'];
  return facts;
}

const MODEL_ONLY: ReadonlySet<string> = new Set(['model']);
const MODEL_KEY = Buffer.from('"model"');
const ESCAPE = Buffer.from('\\u');
/** One top-level member of pickMembers' output whose value is a JSON string: `"<key>":"<value>"` then `,` or `}`. */
const STRING_MEMBER = /"(?:[^"\\]|\\.)*":("(?:[^"\\]|\\.)*")[,}]/y;

/**
 * Whether the top level of the body names `model` twice with different values. The common
 * body spells the key once, so one byte search settles it; only a second `"model"` anywhere
 * (a nested schema property, a duplicate) pays for a member scan.
 */
function modelNamedTwice(body: Buffer): boolean {
  const first = body.indexOf(MODEL_KEY);
  // A key can also be spelled with escapes (`"mod\u0065l"`): then the member scan decides too.
  if ((first === -1 || body.indexOf(MODEL_KEY, first + MODEL_KEY.length) === -1) && body.indexOf(ESCAPE) === -1) return false;
  const picked = pickMembers(stripBom(body.toString('utf8')), MODEL_ONLY);
  if (picked === null || picked === '{}') return false;
  const values = new Set<string>();
  let end = 1;
  STRING_MEMBER.lastIndex = 1;
  for (let m = STRING_MEMBER.exec(picked); m !== null; m = STRING_MEMBER.exec(picked)) {
    values.add(JSON.parse(m[1] ?? '""') as string);
    end = STRING_MEMBER.lastIndex;
  }
  if (end === picked.length) return values.size > 1;
  // Some `model` is not a string: ambiguous as soon as there are two of them.
  try {
    return (JSON.parse(`[${picked.slice(1, -1).replace(KEY_COLON, '')}]`) as unknown[]).length > 1;
  } catch {
    return true;
  }
}

const KEY_COLON = /"(?:[^"\\]|\\.)*"\s*:/g;

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** `anthropic-beta` (some betas change the price) and the SDKs' retry counter. */
export function headerFacts(headers: Headers): HeaderFacts {
  return { betas: parseBetas(headers['anthropic-beta']), retry: Number(headers['x-stainless-retry-count'] ?? 0) > 0 };
}

function parseBetas(h: string | string[] | undefined): readonly string[] {
  if (h === undefined) return NO_BETAS;
  const all = Array.isArray(h) ? h.join(',') : h;
  return all
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
