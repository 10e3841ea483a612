import type { IncomingHttpHeaders } from 'node:http';
import type { Credential } from '../core/request.ts';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message:
 * forwarding them would, for example, let a client's `connection: close` tear down
 * our pooled upstream socket. `transfer-encoding` is re-applied by Node when it
 * streams the body, so the bytes the upstream receives are unchanged.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Our own request headers (`x-meter-tag`, `x-meter-priority`, …) are for us and never leave the proxy. */
const OWN_PREFIX = 'x-meter-';

/**
 * Headers that ask a server, or a framework in front of it, to treat the request as another
 * method or another path: an upstream that honoured one would route the request differently
 * from the route we metered and budgeted, so none is ever forwarded.
 */
const OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url']);

/** undici sets Host from the pool's origin; `expect: 100-continue` is refused by undici and never needed here. */
const SET_BY_US = new Set(['host', 'expect']);

/** Header names listed in a Connection header value (lower-case), or null when there is none. */
export function connectionListed(conn: string | string[] | undefined): Set<string> | null {
  if (conn === undefined) return null;
  const listed = new Set<string>();
  for (const line of typeof conn === 'string' ? [conn] : conn) for (const name of line.split(',')) listed.add(name.trim().toLowerCase());
  return listed;
}

/** Which request headers carry a credential: none of the client's is copied as sent. */
export interface CredentialPolicy {
  /** Every header that carries a credential in any dialect (lower-case): an upstream may read any of them. */
  headers: ReadonlySet<string>;
}

/**
 * The proxy's own key (an upstream's api_key) as a credential in `header`, the first the request's
 * dialect names: `authorization` takes it as a bearer token (RFC 6750), any other header as it is.
 */
export function ownCredential(header: string, apiKey: string): Credential {
  return { header, value: header === 'authorization' ? `Bearer ${apiKey}` : apiKey };
}

/**
 * Builds the header set sent upstream. Pure: returns a new object.
 * Headers named in the client's Connection header are stripped too, so a client
 * cannot smuggle a hop-by-hop header through under another name.
 * Credentials: every client credential header of every dialect is dropped (`x_api_key` too: see headerAlias), then at
 * most one is sent: `credential`, the proxy's own key or the one identification chose
 * (http/identify.ts), so the key the upstream reads is the key the proxy metered.
 * Skips rather than deletes: `delete` would turn the object into a slow dictionary
 * that undici then iterates on every request.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  opts: { credentials: CredentialPolicy; credential: Credential | null; identity?: boolean },
): IncomingHttpHeaders {
  const listed = connectionListed(incoming['connection']);
  const credentialHeaders = opts.credentials.headers;
  const out: IncomingHttpHeaders = {};
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name) || SET_BY_US.has(name) || name.startsWith(OWN_PREFIX)) continue;
    if (listed?.has(name) || credentialHeaders.has(headerAlias(name)) || OVERRIDES.has(name)) continue;
    out[name] = value;
  }
  if (opts.credential !== null) out[opts.credential.header] = opts.credential.value;
  // Metered responses are asked for uncompressed: decoding a gzip copy to read its usage cost
  // ~180 µs of CPU per response (bench/tap-encoding.ts), more than all the rest of metering;
  // identity costs only bytes on the wire. The tap still decodes if an upstream compresses anyway.
  if (opts.identity === true) out['accept-encoding'] = 'identity';
  return out;
}

/**
 * The header a (lower-case) name stands for where `_` and `-` are one (CGI and WSGI servers
 * merge them: `x_api_key` reaches the application as `x-api-key`). Credential headers are
 * matched through it, so an alias is identified, and never forwarded, as the credential it is.
 */
export function headerAlias(name: string): string {
  return name.includes('_') ? name.replaceAll('_', '-') : name;
}

/** Whether a (lower-case) header name is hop-by-hop, i.e. never forwarded to the client. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}
