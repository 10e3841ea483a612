/**
 * The rules across upstreams: a routed upstream's `route` (a canonical path prefix that takes
 * nothing from the proxy's own routes, the default upstream's API, or another route) and names
 * unique across the default and the routed ones. Routing (http/upstreams.ts) relies on them:
 * with no route a prefix of another, at most one route matches a path.
 */
import type { BudgetConfig } from '../budget/types.ts';
import { parseTarget } from '../core/target.ts';
import type { ConfigBody } from './defaults.ts';
import { joinIndex, joinKey } from './errors.ts';
import type { RoutedUpstreamConfig, UpstreamSection } from './types.ts';
import { show, type Issue } from './walk.ts';

/** Names go into records, metric labels, budget instances and store keys: plain, like budget names. */
const UPSTREAM_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * First path segments a route may not take, lower-cased: the admin routes (`/_meter/…`,
 * `/metrics`) and the API version every SDK puts first (`/v1/…`), which the default upstream
 * serves. Compared case-insensitively: the dialects classify `/V1/Messages` as `/v1/messages`.
 */
const RESERVED: Readonly<Record<string, string>> = {
  _meter: "the proxy's own /_meter routes",
  metrics: "the proxy's /metrics",
  v1: "the default upstream's API paths (/v1/...)",
};

export function upstreamName(u: UpstreamSection, path: string): Issue | undefined {
  if (UPSTREAM_NAME.test(u.name)) return undefined;
  return { keyPath: joinKey(path, 'name'), reason: `must be 1 to 64 of the characters A-Z a-z 0-9 . _ -, got ${show(u.name)}` };
}

/** One routed upstream: its name, and a route that is a canonical path prefix taking nothing reserved. */
export function checkRoutedUpstream(u: RoutedUpstreamConfig, path: string): Issue | undefined {
  const named = upstreamName(u, path);
  if (named !== undefined) return named;
  const at = joinKey(path, 'route');
  const r = u.route;
  if (!r.startsWith('/')) return { keyPath: at, reason: `must start with '/', got ${show(r)} (did you mean '/${r}'?)` };
  if (r === '/') return { keyPath: at, reason: "must name a path prefix: '/' would take every request from the default upstream" };
  if (r.endsWith('/')) return { keyPath: at, reason: `must not end with '/', got ${show(r)} (did you mean '${r.replace(/\/+$/, '')}'?)` };
  const t = parseTarget(r);
  if (t.kind !== 'path' || t.path !== r || t.query !== '') {
    const hint = t.kind === 'path' && t.query === '' ? ` (did you mean '${t.path}'?)` : '';
    return { keyPath: at, reason: `must be a canonical path without a query, as requests are matched, got ${show(r)}${hint}` };
  }
  const first = (r.split('/')[1] ?? '').toLowerCase();
  const taken = RESERVED[first];
  if (taken !== undefined) return { keyPath: at, reason: `${show(r)} would shadow ${taken}` };
  return undefined;
}

/** `a` is `b` or a path under it. */
function onSegment(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`);
}

/** Routes across the list: none equal to, or a prefix of, another (both would match one path). */
export function distinctRoutes(list: readonly RoutedUpstreamConfig[], path: string): Issue | undefined {
  for (const [i, u] of list.entries()) {
    for (const [j, other] of list.entries()) {
      if (j >= i) break;
      const [a, b] = [u.route, other.route];
      if (!onSegment(a, b) && !onSegment(b, a)) continue;
      const how = a === b ? 'the same route as' : onSegment(a, b) ? 'a path under the route of' : 'a prefix of the route of';
      return { keyPath: joinKey(joinIndex(path, i), 'route'), reason: `${show(a)} is ${how} ${joinIndex(path, j)} (${show(b)})` };
    }
  }
  return undefined;
}

/** Names identify an upstream in records, budgets and `x-meter-upstream`: unique, the default's included. */
export function uniqueUpstreamNames(c: ConfigBody): Issue | undefined {
  const seen = new Map<string, string>([[c.upstream.name, 'upstream']]);
  for (const [i, u] of c.upstreams.entries()) {
    const at = joinIndex('upstreams', i);
    const first = seen.get(u.name);
    if (first !== undefined) return { keyPath: joinKey(at, 'name'), reason: `duplicate upstream name '${u.name}' (also ${first})` };
    seen.set(u.name, at);
  }
  return upstreamName(c.upstream, 'upstream') ?? knownUpstreams(c, seen);
}

/** A budget's `match.upstream` names configured upstreams: a typo would match nothing, and a budget enforced on nothing is no budget. */
function knownUpstreams(c: ConfigBody, names: ReadonlyMap<string, string>): Issue | undefined {
  for (const [i, b] of c.budgets.entries()) {
    for (const [j, name] of b.match.upstream.entries()) {
      if (names.has(name)) continue;
      const at = joinKey(joinKey(joinIndex('budgets', i), 'match'), 'upstream');
      const known = [...names.keys()].map((n) => `'${n}'`).join(', ');
      return {
        keyPath: b.match.upstream.length === 1 ? at : joinIndex(at, j),
        reason: `no upstream is named '${name}' (configured: ${known})`,
      };
    }
  }
  // reconcile.upstreams too: a typo would compare nothing, and say capture 0.
  for (const [j, name] of c.reconcile.upstreams.entries()) {
    if (names.has(name)) continue;
    const at = joinKey('reconcile', 'upstreams');
    return {
      keyPath: c.reconcile.upstreams.length === 1 ? at : joinIndex(at, j),
      reason: `no upstream is named '${name}' (configured: ${[...names.keys()].map((n) => `'${n}'`).join(', ')})`,
    };
  }
  return undefined;
}

/**
 * An upstream that sends the proxy's own key and lists no client keys lets any client send any
 * key: a cap per key on the traffic it carries would be a cap the caller chooses. Refused rather
 * than silently enforced on nobody, for every upstream a budget can see (its match.upstream, or all).
 */
export function verifiedKeys(c: ConfigBody): Issue | undefined {
  const open = [{ u: c.upstream, at: 'upstream' }, ...c.upstreams.map((u, i) => ({ u, at: joinIndex('upstreams', i) }))].filter(
    ({ u }) => u.api_key !== null && u.client_key_ids.length === 0,
  );
  if (open.length === 0) return undefined;
  for (const [i, b] of c.budgets.entries()) {
    const seen = open.find(({ u }) => sees(b, u.name));
    if (seen === undefined) continue;
    const why = `needs verified client keys: ${seen.at}.api_key is set and ${seen.at}.client_key_ids is empty, so any client can send any key`;
    const at = joinIndex('budgets', i);
    if (b.scope === 'per_key') return { keyPath: joinKey(at, 'scope'), reason: `per_key budget '${b.name}' ${why}` };
    if (b.match.key.length > 0)
      return { keyPath: joinKey(joinKey(at, 'match'), 'key'), reason: `budget '${b.name}' matching on key ${why}` };
  }
  return undefined;
}

function sees(b: BudgetConfig, upstream: string): boolean {
  return b.match.upstream.length === 0 || b.match.upstream.includes(upstream);
}
