/**
 * One proxied request, in flow order, from its canonical target (core/target.ts, parsed once by serve.ts):
 *   select the upstream (route prefix, x-meter-upstream, or the default: http/upstreams.ts) →
 *   classify the route (the upstream's dialect for the path) → identify the caller → read the body (metered, unreported and
 *   free routes) → budget admission (billed routes, metered or unreported, when budgets exist) → the dialect's
 *   rewrite of the body, if any → forward, the exchange observing the response → the exchange's end (price, record, budget settle, metrics, log).
 * Nothing after forwarding can delay or change the bytes the client receives, except a rewrite's response filter.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestRewrite } from '../core/dialect.ts';
import type { PathTarget } from '../core/target.ts';
import { requestBodiesFull, unselectableUpstream } from '../core/errors.ts';
import { identify } from './identify.ts';
import { refuseUnrecorded } from './respond.ts';
import { BodiesFull, readRequestBody, type ReadBody } from './request-body.ts';
import { Exchange, type PipelineDeps } from './exchange.ts';
import { selectUpstream, upstreamPath, UPSTREAM_HEADER } from './upstreams.ts';
import { forwardBatchCall } from './batches.ts';

export type { PipelineDeps, PipelineSettings } from './exchange.ts';

export async function handleProxied(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, target: PathTarget): Promise<void> {
  const t0 = deps.clock.monotonic();
  const ts = deps.clock.now();
  const settings = deps.settings();
  const method = req.method ?? 'GET';
  const upstream = selectUpstream(settings.upstreams, target.path, req.headers[UPSTREAM_HEADER]);
  if (upstream === null) {
    refuseUnrecorded(res, unselectableUpstream(), settings.upstreams.default.dialect, deps.logger, { method, path: target.path });
    return;
  }
  const path = upstreamPath(upstream, target.path);
  // The native dialect first; a path it passes through may be one the alternate meters (an anthropic upstream's OpenAI-format paths).
  let dialect = upstream.dialect;
  let route = dialect.route(method, path);
  if (route === 'passthrough' && upstream.alternate !== null) {
    const alt = upstream.alternate.route(method, path);
    if (alt !== 'passthrough') {
      dialect = upstream.alternate;
      route = alt;
    }
  }
  // Held from here until the exchange ends, so a reload closes this upstream's pool only after it.
  upstream.inFlight.begin();
  const who = identify(req, dialect, upstream.access);
  if (!who.ok) {
    upstream.inFlight.end();
    refuseUnrecorded(res, who.error, dialect, deps.logger, { method, path, upstream: upstream.name });
    return;
  }
  deps.keyHints?.note(who.caller.keyId, dialect, who.credential);

  const arrival = (body: ReadBody | null) => ({
    id: randomUUID(),
    ts,
    t0,
    method,
    path,
    route,
    upstream,
    dialect,
    caller: who.caller,
    headers: dialect.headerFacts(req.headers),
    body,
  });

  // Message Batches: their own flow (a budget hold at create, results_url rewritten, results metered).
  const call = route === 'passthrough' ? (dialect.batches?.call(method, path) ?? null) : null;
  if (call !== null) {
    return forwardBatchCall(deps, req, res, {
      call,
      upstream,
      dialect,
      path,
      query: target.query,
      caller: who.caller,
      credential: upstream.ownCredential(dialect) ?? who.credential,
      settings,
      exchange: () => new Exchange(deps, settings, res, arrival(null)),
    });
  }

  let body: ReadBody | null = null;
  if (route !== 'passthrough') {
    const limits = settings.limits;
    try {
      body = await readRequestBody(req, limits.maxRequestBodyBytes, { buffers: deps.bodies, max: limits.maxBufferedRequestBytes, res });
    } catch (err) {
      upstream.inFlight.end();
      // Nothing was forwarded and nothing is billed, so nothing is recorded; a refusal is counted.
      if (err instanceof BodiesFull) {
        deps.metrics.bodiesRefused.inc();
        refuseUnrecorded(res, requestBodiesFull(), dialect, deps.logger, { method, path, upstream: upstream.name });
      }
      return; // otherwise the client went away while uploading
    }
  }
  const exchange = new Exchange(deps, settings, res, arrival(body));

  const gate = deps.budgets?.gate;
  // An unreported route is billed too: admitted on the body's estimate, settled at the reservation (exchange.ts).
  if ((route === 'metered' || route === 'unreported') && gate?.active) {
    const admitted = await exchange.admit(gate, req.headers['x-meter-priority'] === 'low' ? 'low' : 'normal');
    if (!admitted) {
      req.resume(); // the body was read already unless oversized; drain whatever is left
      return;
    }
  }

  // A dialect that rewrites (none for Anthropic traffic) sees the whole body and its facts; the rest forward it as read.
  let rewrite: RequestRewrite | null = null;
  if (dialect.rewrite !== undefined && body !== null && body.whole !== null) {
    rewrite = dialect.rewrite(route, path, body.whole, () => exchange.facts());
  }

  exchange.startForwarding();
  upstream.forwarder.forward(
    req,
    res,
    {
      target: path + target.query,
      credential: upstream.ownCredential(dialect) ?? who.credential,
      body: rewrite?.body ?? body?.forward ?? null,
      encoding: route === 'metered' ? 'identity' : 'as-sent',
      rewrite,
    },
    exchange,
  );
}
