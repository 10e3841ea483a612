import type { Config } from './types.ts';

const REDACTED = '***';

/**
 * A copy of the config that is safe to log at startup: every upstream's and the batch poller's API key, any Redis
 * password, the admin token and the secret parts of the upstream and alert webhook URLs are
 * replaced by '***'. Everything else is kept, because "which config did it actually run with"
 * is the first question when debugging a deployment.
 */
export function describeConfig(c: Config): object {
  const copy = structuredClone(c);
  for (const u of [copy.upstream, ...copy.upstreams]) {
    u.url = redactUrl(u.url);
    if (u.api_key !== null) u.api_key = REDACTED;
  }
  if (copy.store.redis.url !== null) copy.store.redis.url = redactRedisUrl(copy.store.redis.url);
  if (copy.admin.token !== null) copy.admin.token = REDACTED;
  if (copy.batches.poller.api_key !== null) copy.batches.poller.api_key = REDACTED;
  if (copy.reconcile.admin_key !== null) copy.reconcile.admin_key = REDACTED;
  if (copy.alerts.webhook_url !== null) copy.alerts.webhook_url = redactUrl(copy.alerts.webhook_url);
  return copy;
}

/**
 * The URL's origin, with its userinfo, path, query and fragment each replaced by `***` when
 * present: webhook URLs carry their credential in the path or query (Slack's
 * `/services/T0/B0/secret`, `?token=`), and so may an upstream relay's (`/relay/<token>`).
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return REDACTED;
  const u = new URL(url);
  const userinfo = u.username !== '' || u.password !== '' ? `${REDACTED}@` : '';
  const rest = u.pathname !== '/' || u.search !== '' || u.hash !== '' ? `/${REDACTED}` : '';
  return `${u.protocol}//${userinfo}${u.host}${rest}`;
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
