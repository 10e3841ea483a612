import { bounded } from '../../core/bound.ts';
import type { HeaderFacts } from '../../core/dialect.ts';
import type { RequestFacts } from '../../core/request.ts';
import { parsePicked, PICK_MIN_BYTES } from '../../lib/json-members.ts';

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
  try {
    // A UTF-8 byte order mark is not JSON, but the upstream reads past it: so does the meter.
    const text = stripBom(body.toString('utf8'));
    json = body.length >= PICK_MIN_BYTES ? parsePicked(text, REQUEST_MEMBERS) : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return facts;
  const o = json as Record<string, unknown>;
  facts.parsed = true;
  // Bounded here, where the request's facts are read: the model names a label, a budget instance, a record field and a log field.
  if (typeof o['model'] === 'string') facts.model = bounded(o['model']);
  facts.stream = o['stream'] === true;
  if (typeof o['max_tokens'] === 'number' && Number.isFinite(o['max_tokens'])) facts.maxTokens = o['max_tokens'];
  return facts;
}

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
