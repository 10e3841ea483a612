import type { RouteKind } from '../../core/request.ts';

/**
 * Anthropic's routes by what they mean for metering. Only POST /v1/messages reports billable
 * usage; count_tokens is free; /v1/complete is billed but reports none; the rest passes through.
 * A query string and a trailing slash do not change the route.
 */
export function route(method: string, path: string): RouteKind {
  if (method.toUpperCase() !== 'POST') return 'passthrough';
  const q = path.indexOf('?');
  let p = q === -1 ? path : path.slice(0, q);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  if (p === '/v1/messages') return 'metered';
  if (p === '/v1/messages/count_tokens') return 'free';
  if (p === '/v1/complete') return 'unreported';
  return 'passthrough';
}
