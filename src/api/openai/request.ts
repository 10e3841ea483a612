import type { HeaderFacts } from '../../core/dialect.ts';
import { requestFactsReader } from '../../lib/json-body.ts';

type Headers = Record<string, string | string[] | undefined>;

const NO_BETAS: readonly string[] = Object.freeze([]);

/**
 * The request fields that metering and budgets read, for every OpenAI endpoint: `model`,
 * `stream`, and the output cap under any of its three spellings (chat's legacy and current one,
 * and the Responses API's), read like the Anthropic facts (lib/json-body.ts).
 */
export const requestFacts = requestFactsReader(['max_tokens', 'max_completion_tokens', 'max_output_tokens']);

/** OpenAI has no price-changing beta header; its SDK (Stainless-built, like Anthropic's) counts retries the same way. */
export function headerFacts(headers: Headers): HeaderFacts {
  return { betas: NO_BETAS, retry: Number(headers['x-stainless-retry-count'] ?? 0) > 0 };
}
