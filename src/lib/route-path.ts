/**
 * The path a dialect classifies a route by. A query string and a trailing slash never change
 * the route; the loose spelling also drops what some servers ignore at the end of a path and
 * the case, because a route matches loose toward metering (api/anthropic/routes.ts says why).
 */

/** The path without its query string and one trailing slash. */
export function routePath(path: string): string {
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** routePath's result lower-cased, without a tail of `/`, `.`, spaces or tabs (raw or escaped). */
export function looseRoutePath(p: string): string {
  return trimTail(p).toLowerCase();
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
