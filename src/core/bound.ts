/**
 * The one length bound on names that come from clients and upstreams (a model, a path, an
 * error type, a message id): each becomes a record field, a Redis field, a log field and
 * sometimes a metric label, so one 1 MB name would otherwise cost 1 MB in every one of them.
 */
import { hash } from 'node:crypto';

/**
 * Longer than any real name: model ids run to about 40 characters, and the longest forms
 * (a Bedrock inference-profile ARN with a regional model id) stay near 110.
 */
export const MAX_NAME_CHARS = 256;

/** `~` and 8 hex characters of sha256 of the whole value. */
const SUFFIX_CHARS = 9;

/**
 * `s` itself when it is at most `max` characters; otherwise its first characters, `~` and
 * 8 hex characters of sha256(s), `max` characters in all (one less
 * rather than split a surrogate pair). Two long values that share
 * their head still differ (the hash), and the same value always bounds to the same string,
 * so it can still name a budget instance or a record dimension.
 */
export function bounded(s: string, max: number = MAX_NAME_CHARS): string {
  if (s.length <= max) return s;
  let head = max - SUFFIX_CHARS;
  // Never cut a surrogate pair in half: a lone surrogate is not valid UTF-8 in a log or in Redis.
  const last = s.charCodeAt(head - 1);
  if (last >= 0xd800 && last <= 0xdbff) head -= 1;
  return `${s.slice(0, head)}~${hash('sha256', s, 'hex').slice(0, 8)}`;
}
