import type { Config } from './types.ts';

const REDACTED = '***';

/**
 * A copy of the config that is safe to log at startup: the upstream API key and any
 * Redis password are replaced by '***'. Everything else is kept, because "which config
 * did it actually run with" is the first question when debugging a deployment.
 */
export function describeConfig(c: Config): object {
  const copy = structuredClone(c);
  if (copy.upstream.api_key !== null) copy.upstream.api_key = REDACTED;
  if (copy.store.redis.url !== null) copy.store.redis.url = redactRedisUrl(copy.store.redis.url);
  return copy;
}

/**
 * ioredis reads a password from the URL's userinfo (`redis://user:pass@host`,
 * `redis://:pass@host`) and also from a `?password=` query parameter; hide both.
 */
export function redactRedisUrl(url: string): string {
  if (!URL.canParse(url)) return REDACTED; // validated config never gets here; hide what we cannot parse
  const u = new URL(url);
  if (u.password !== '') u.password = REDACTED;
  if (u.searchParams.has('password')) u.searchParams.set('password', REDACTED);
  return u.toString();
}
