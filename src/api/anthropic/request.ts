import { bounded } from '../../core/bound.ts';
import type { HeaderFacts } from '../../core/dialect.ts';
import type { RequestFacts } from '../../core/request.ts';
import { bodyObject, namedTwice } from '../../lib/json-body.ts';

type Headers = Record<string, string | string[] | undefined>;

const REQUEST_MEMBERS: ReadonlySet<string> = new Set(['model', 'stream', 'max_tokens']);
const NO_BETAS: readonly string[] = Object.freeze([]);
const modelNamedTwice = namedTwice('model');

/**
 * The Messages request fields that metering and budgets read. From 2 KB only their structure
 * and these members are checked (lib/json-body.ts), so a body broken elsewhere still yields
 * them; invalid JSON is the upstream's to reject, and is forwarded unchanged either way.
 */
export function requestFacts(body: Buffer): RequestFacts {
  const facts: RequestFacts = { model: null, stream: false, maxTokens: null, bytes: body.length, parsed: false };
  const read = bodyObject(body, REQUEST_MEMBERS);
  if (read === null) return facts;
  const o = read.members;
  facts.parsed = true;
  // A large body's members were scanned already: the conflict check reads only what was kept.
  if (modelNamedTwice(read.picked === null ? body : Buffer.from(read.picked))) facts.conflict = 'model';
  // Bounded here, where the request's facts are read: the model names a label, a budget instance, a record field and a log field.
  if (typeof o['model'] === 'string') facts.model = bounded(o['model']);
  facts.stream = o['stream'] === true;
  if (typeof o['max_tokens'] === 'number' && Number.isFinite(o['max_tokens'])) facts.maxTokens = o['max_tokens'];
  return facts;
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
