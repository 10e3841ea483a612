import type { RouteKind } from '../../core/request.ts';
import { looseRoutePath, routePath } from '../../lib/route-path.ts';

/**
 * Anthropic's routes by what they mean for metering. Only POST /v1/messages reports billable
 * usage; count_tokens is free; /v1/complete is billed but reports none; the rest passes through.
 * A query string and a trailing slash do not change the route.
 *
 * The match is loose toward metering: an upstream that normalizes paths differently (case,
 * trailing dots, spaces or tabs) would bill a spelling we passed through unmetered, while one that
 * does not recognise it answers 404, which releases the reservation. So `/V1/Messages.` counts
 * as /v1/messages; only the classification is loose, the forwarded target is the canonical one.
 */
export function route(method: string, path: string): RouteKind {
  if (method.toUpperCase() !== 'POST') return 'passthrough';
  let p = routePath(path);
  // The exact spellings first: almost every request is one of them.
  if (p === '/v1/messages') return 'metered';
  if (p === '/v1/messages/count_tokens') return 'free';
  if (p === '/v1/complete') return 'unreported';
  p = looseRoutePath(p);
  if (p === '/v1/messages') return 'metered';
  if (p === '/v1/messages/count_tokens') return 'free';
  if (p === '/v1/complete') return 'unreported';
  return 'passthrough';
}
