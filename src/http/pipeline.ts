import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Clock } from '../lib/clock.ts';
import type { Forwarder } from '../upstream/forward.ts';
import { UsageTap, isCountTokens, isMeteredPath } from '../usage/tap.ts';
import type { UsageOutcome } from '../usage/types.ts';
import { identify } from './identify.ts';
import { readRequestBody, type RequestFacts } from './request-body.ts';
import { sendProxyError } from './errors.ts';
import { settle, type SettleDeps } from '../meter/settle.ts';

export interface PipelineDeps extends SettleDeps {
  clock: Clock;
  forwarder: Forwarder;
  limits: { maxJsonBodyBytes: number; maxSseEventBytes: number; maxRequestBodyBytes: number };
}

/**
 * One proxied request, in flow order:
 *   identify → read body (metered routes only) → forward → tap usage → settle (price, record, metrics, log).
 * Nothing after forwarding can delay or change the bytes the client receives.
 */
export async function handleProxied(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t0 = deps.clock.monotonic();
  const ts = deps.clock.now();
  const id = randomUUID();
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const caller = identify(req.headers);
  const betas = parseBetas(req.headers['anthropic-beta']);
  const free = isCountTokens(method, path);

  // 1. Read the body where we need its facts before forwarding (model for pricing, later max_tokens for budgets).
  let facts: RequestFacts | null = null;
  let body: Buffer | Readable | null = null;
  if (free || isMeteredPath(method, path)) {
    try {
      const read = await readRequestBody(req, deps.limits.maxRequestBodyBytes);
      facts = read.facts;
      body = read.forward;
    } catch {
      // The client went away while uploading: nothing was forwarded, nothing to bill.
      return;
    }
  }

  // 2. Forward, observing the response through the usage tap.
  const tap = new UsageTap({
    path,
    method,
    requestModel: facts?.model ?? null,
    maxJsonBodyBytes: deps.limits.maxJsonBodyBytes,
    maxSseEventBytes: deps.limits.maxSseEventBytes,
  });
  const tForward = deps.clock.monotonic();
  let status = 502;
  let upstreamLatencyMs: number | null = null;
  let ttftMs: number | null = null;

  const finish = (outcome: UsageOutcome) => {
    settle(deps, {
      id,
      ts,
      method,
      path,
      caller,
      facts,
      free,
      status,
      outcome,
      latencyMs: deps.clock.monotonic() - t0,
      ttftMs,
      upstreamLatencyMs,
      betas,
    });
  };

  deps.forwarder.forward(req, res, body, {
    onResponseStart(s, headers) {
      status = s;
      upstreamLatencyMs = deps.clock.monotonic() - tForward;
      tap.onResponseStart(s, headers);
    },
    onData(chunk) {
      if (ttftMs === null) ttftMs = deps.clock.monotonic() - t0;
      tap.onData(chunk);
    },
    onEnd(how) {
      tap.finish(how).then(finish, (err: unknown) => {
        deps.logger.error({ err, id }, 'usage tap failed');
        finish(missing('unparseable_body', facts));
      });
    },
    onError(err) {
      status = err.status;
      sendProxyError(res, err, `req_meter_${id}`);
      deps.logger.warn({ id, code: err.code, cause: String(err.cause) }, err.message);
      finish(missing('upstream_unreachable', facts));
    },
  });
}

function missing(reason: UsageOutcome['missingReason'], facts: RequestFacts | null): UsageOutcome {
  return {
    usage: null,
    model: facts?.model ?? null,
    missingReason: reason,
    partial: false,
    errorType: null,
    stopReason: null,
    messageId: null,
  };
}

function parseBetas(h: string | string[] | undefined): string[] {
  if (h === undefined) return [];
  const all = Array.isArray(h) ? h.join(',') : h;
  return all
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
