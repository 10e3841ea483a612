import type { RouteKind } from '../../core/request.ts';

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
  const q = path.indexOf('?');
  let p = q === -1 ? path : path.slice(0, q);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  // The exact spellings first: almost every request is one of them.
  if (p === '/v1/messages') return 'metered';
  if (p === '/v1/messages/count_tokens') return 'free';
  if (p === '/v1/complete') return 'unreported';
  p = trimTail(p).toLowerCase();
  if (p === '/v1/messages') return 'metered';
  if (p === '/v1/messages/count_tokens') return 'free';
  if (p === '/v1/complete') return 'unreported';
  return 'passthrough';
}

/** Drops what some servers ignore at the end of a path: `/`, `.`, a space or a tab, raw or escaped. A loop, not a regex: linear on any path. */
function trimTail(p: string): string {
  let end = p.length;
  for (;;) {
    const c = p[end - 1];
    if (c === '/' || c === '.' || c === ' ' || c === '\t') end -= 1;
    else if (end >= 3 && p[end - 3] === '%' && (p.slice(end - 2, end) === '20' || p.slice(end - 2, end) === '09')) end -= 3;
    else return p.slice(0, end);
  }
}
