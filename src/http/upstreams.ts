/**
 * The upstreams a request can go to, and the choice of one: built once per config snapshot
 * (compose/upstreams.ts), read by the pipeline when a request arrives. Routing is pure:
 *
 * 1. the routed upstream whose `route` is the request path or a segment-boundary prefix of it
 *    (`/holysheep` takes `/holysheep/v1/messages`, never `/holysheepx/…`); the prefix is removed
 *    from the path the upstream and the meter see (`/v1/messages`). Config checks guarantee at
 *    most one route matches (config/upstream-checks.ts); the longest is tried first all the same.
 * 2. else an `x-meter-upstream: NAME` header, which may select only an upstream configured with
 *    `select_by_header: true` (or name the default); any other name is refused, never forwarded.
 * 3. else the default upstream.
 *
 * Paths are matched exactly (case-sensitive, as RFC 3986 paths are): only configured upstreams
 * are ever contacted, and a path no route takes goes to the default upstream.
 */
import type { Dialect } from '../core/dialect.ts';
import type { Credential } from '../core/request.ts';
import type { InFlight } from '../lib/in-flight.ts';
import type { Biller } from '../pricing/types.ts';
import type { Forwarder } from '../upstream/forward.ts';
import type { UpstreamApi } from '../config/types.ts';
import type { Access } from './identify.ts';

/** The request header that may choose an upstream by name. */
export const UPSTREAM_HEADER = 'x-meter-upstream';

export interface Upstream {
  /** Its name in records, budgets, health and `x-meter-upstream`. */
  readonly name: string;
  /** The path prefix that selects it (`/holysheep`); null: the default upstream. */
  readonly route: string | null;
  /** An `x-meter-upstream` header may select it (the default may always be named). */
  readonly selectByHeader: boolean;
  readonly api: UpstreamApi;
  /** Its URL with userinfo, path and query as `***` (config/describe.ts redactUrl): the URL may hold a relay's token. */
  readonly shownUrl: string;
  /** The dialect of the API it natively speaks: its error shape, and the paths no other dialect claims. */
  readonly dialect: Dialect;
  /**
   * A second dialect for the paths the native one passes through but this one meters or
   * counts, or null. An `api: anthropic` upstream meters OpenAI-format paths
   * (`/v1/chat/completions`) with the openai dialect: relays and Anthropic itself serve both
   * formats under one origin. An `api: openai` upstream has none: everything is OpenAI-format.
   */
  readonly alternate: Dialect | null;
  /** Its own connection pool and timeouts; kept across reloads while its settings do not change. */
  readonly forwarder: Forwarder;
  /**
   * Requests that selected it and have not ended (before their exchange, and during it): a pool
   * a reload retires is closed once this reaches zero. Shared by every snapshot that keeps the pool.
   */
  readonly inFlight: InFlight;
  /** Who checks client keys here: its api_key and client_key_ids. */
  readonly access: Access;
  /** What it bills a request, in its currency. */
  readonly biller: Biller;
  /** OpenAI-format usage: configured, what it is read as now, and whether the upstream's responses proved it (`auto`). */
  usageSemantics(): { configured: string; semantics: string; proven: boolean; evidence: string | null };
  /** Its api_key as the credential `dialect` sends it in (its first credential header); null without api_key. */
  ownCredential(dialect: Dialect): Credential | null;
}

export interface UpstreamSet {
  readonly default: Upstream;
  /** The routed upstreams, longest route first. */
  readonly routed: readonly Upstream[];
  /** Every upstream by name, the default included. */
  readonly byName: ReadonlyMap<string, Upstream>;
}

/** `path` is `route` or a path under it. */
function under(path: string, route: string): boolean {
  return path.startsWith(route) && (path.length === route.length || path.charCodeAt(route.length) === 0x2f);
}

/**
 * The upstream a request goes to: by route prefix, else by the `x-meter-upstream` header (when
 * present), else the default. Null: the header names an upstream it may not select.
 */
export function selectUpstream(set: UpstreamSet, path: string, named: string | string[] | undefined): Upstream | null {
  for (const u of set.routed) if (under(path, u.route as string)) return u;
  if (named === undefined) return set.default;
  const u = typeof named === 'string' ? set.byName.get(named.trim()) : undefined;
  if (u === undefined) return null;
  return u === set.default || u.selectByHeader ? u : null;
}

/** The path `u` and the meter see: without the route prefix when the prefix selected it (`/` when nothing is left). */
export function upstreamPath(u: Upstream, path: string): string {
  const r = u.route;
  if (r === null || !under(path, r)) return path;
  return path.length === r.length ? '/' : path.slice(r.length);
}
