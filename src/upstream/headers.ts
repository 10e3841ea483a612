import type { IncomingHttpHeaders } from 'node:http';

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
 * Builds the header set sent upstream. Pure: returns a new object.
 * Headers named in the client's Connection header are stripped too, so a client
 * cannot smuggle a hop-by-hop header through under another name.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  opts: { upstreamHost: string; apiKey: string | null },
): IncomingHttpHeaders {
  const listed = new Set<string>();
  const conn = incoming['connection'];
  if (typeof conn === 'string') {
    for (const name of conn.split(',')) listed.add(name.trim().toLowerCase());
  }
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || listed.has(name) || name.startsWith(OWN_PREFIX)) continue;
    out[name] = value;
  }
  // undici sets Host from the pool's origin; `expect: 100-continue` is refused by undici and never needed here.
  delete out['host'];
  delete out['expect'];
  void opts.upstreamHost;
  if (opts.apiKey !== null) {
    // An injected key replaces whatever the client sent, so client keys never reach the upstream.
    delete out['authorization'];
    out['x-api-key'] = opts.apiKey;
  }
  return out;
}

/**
 * Response headers for the client: the upstream's, minus hop-by-hop ones (Node frames
 * the body itself: chunked or content-length). Pure.
 */
export function downstreamResponseHeaders(upstream: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}
