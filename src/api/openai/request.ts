import { bounded } from '../../core/bound.ts';
import type { HeaderFacts } from '../../core/dialect.ts';
import type { RequestFacts } from '../../core/request.ts';
import { bodyObject, namedTwice } from '../../lib/json-body.ts';

type Headers = Record<string, string | string[] | undefined>;

/** The output cap's three spellings: chat's legacy and current one, and the Responses API's. */
const MAX_TOKENS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;
const REQUEST_MEMBERS: ReadonlySet<string> = new Set(['model', 'stream', ...MAX_TOKENS]);
const NO_BETAS: readonly string[] = Object.freeze([]);
const modelNamedTwice = namedTwice('model');

/**
 * The request fields that metering and budgets read, for every OpenAI endpoint: `model`,
 * `stream`, and the output cap, whichever of its spellings is given (the largest, should a body
 * give several: a budget is better reserved a little high). Read like the Anthropic facts
 * (lib/json-body.ts), the duplicate-model check included.
 */
export function requestFacts(body: Buffer): RequestFacts {
  const facts: RequestFacts = { model: null, stream: false, maxTokens: null, bytes: body.length, parsed: false };
  const read = bodyObject(body, REQUEST_MEMBERS);
  if (read === null) return facts;
  const o = read.members;
  facts.parsed = true;
  if (modelNamedTwice(read.picked === null ? body : Buffer.from(read.picked))) facts.conflict = 'model';
  if (typeof o['model'] === 'string') facts.model = bounded(o['model']);
  facts.stream = o['stream'] === true;
  for (const k of MAX_TOKENS) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v) && (facts.maxTokens === null || v > facts.maxTokens)) facts.maxTokens = v;
  }
  return facts;
}

/** OpenAI has no price-changing beta header; its SDK (Stainless-built, like Anthropic's) counts retries the same way. */
export function headerFacts(headers: Headers): HeaderFacts {
  return { betas: NO_BETAS, retry: Number(headers['x-stainless-retry-count'] ?? 0) > 0 };
}
