import type { HeaderFacts } from '../../core/dialect.ts';
import { requestFactsReader } from '../../lib/json-body.ts';

type Headers = Record<string, string | string[] | undefined>;

const NO_BETAS: readonly string[] = Object.freeze([]);

/**
 * The Messages request fields that metering and budgets read. From 2 KB only their structure
 * and these members are checked (lib/json-body.ts), so a body broken elsewhere still yields
 * them; invalid JSON is the upstream's to reject, and is forwarded unchanged either way.
 */
export const requestFacts = requestFactsReader(['max_tokens']);

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
