/**
 * One proxied request, in flow order, from its canonical target (core/target.ts, parsed once by serve.ts):
 *   classify the route (dialect) → identify the caller → read the body (metered, unreported and
 *   free routes) → budget admission (billed routes, metered or unreported, when budgets exist) → forward, the exchange
 *   observing the response → the exchange's end (price, record, budget settle, metrics, log).
 * Nothing after forwarding can delay or change the bytes the client receives.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PathTarget } from '../core/target.ts';
import type { Forwarder } from '../upstream/forward.ts';
import { requestBodiesFull } from '../core/errors.ts';
import { identify, type Access } from './identify.ts';
import { refuseUnrecorded } from './respond.ts';
import { BodiesFull, type BodyBuffers, readRequestBody, type ReadBody } from './request-body.ts';
import { Exchange, type ExchangeDeps, type PipelineSettings } from './exchange.ts';

export type { PipelineSettings } from './exchange.ts';

export interface PipelineDeps extends ExchangeDeps {
  forwarder: Forwarder;
  /** Request body bytes held by every request in flight (limits.max_buffered_request_bytes). */
  bodies: BodyBuffers;
  /** Who checks client keys (restart-only: upstream.*). */
  access: Access;
  /** The live settings; a reload swaps the whole snapshot. */
  settings(): PipelineSettings;
}

export async function handleProxied(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, target: PathTarget): Promise<void> {
  const t0 = deps.clock.monotonic();
  const ts = deps.clock.now();
  const settings = deps.settings();
  const method = req.method ?? 'GET';
  const path = target.path;
  const route = deps.dialect.route(method, path);
  const who = identify(req, deps.dialect, deps.access);
  if (!who.ok) {
    refuseUnrecorded(res, who.error, deps.dialect, deps.logger, { method, path });
    return;
  }

  let body: ReadBody | null = null;
  if (route !== 'passthrough') {
    const limits = settings.limits;
    try {
      body = await readRequestBody(req, limits.maxRequestBodyBytes, { buffers: deps.bodies, max: limits.maxBufferedRequestBytes, res });
    } catch (err) {
      // Nothing was forwarded and nothing is billed, so nothing is recorded; a refusal is counted.
      if (err instanceof BodiesFull) {
        deps.metrics.bodiesRefused.inc();
        refuseUnrecorded(res, requestBodiesFull(), deps.dialect, deps.logger, { method, path });
      }
      return; // otherwise the client went away while uploading
    }
  }
  const exchange = new Exchange(deps, settings, res, {
    id: randomUUID(),
    ts,
    t0,
    method,
    path,
    route,
    caller: who.caller,
    headers: deps.dialect.headerFacts(req.headers),
    body,
    // TODO(merge): the routing helper names the upstream the request is routed to.
    upstream: 'default',
  });

  const gate = deps.budgets?.gate;
  // An unreported route is billed too: admitted on the body's estimate, settled at the reservation (exchange.ts).
  if ((route === 'metered' || route === 'unreported') && gate?.active) {
    const admitted = await exchange.admit(gate, req.headers['x-meter-priority'] === 'low' ? 'low' : 'normal');
    if (!admitted) {
      req.resume(); // the body was read already unless oversized; drain whatever is left
      return;
    }
  }

  exchange.startForwarding();
  deps.forwarder.forward(
    req,
    res,
    {
      target: path + target.query,
      credential: who.credential,
      body: body?.forward ?? null,
      encoding: route === 'metered' ? 'identity' : 'as-sent',
    },
    exchange,
  );
}
