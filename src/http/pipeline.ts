import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../config/types.ts';
import type { ForwardHooks, Forwarder } from '../upstream/forward.ts';
import { UsageTap, isCountTokens, isMeteredPath } from '../usage/tap.ts';
import type { UsageOutcome } from '../core/usage.ts';
import { identify, type Caller } from './identify.ts';
import { readRequestBody, type RequestFacts } from './request-body.ts';
import { ProxyError } from '../core/errors.ts';
import { sendProxyError } from './errors.ts';
import { settle, type SettleDeps } from '../meter/settle.ts';
import type { BudgetGate, Admission } from '../budget/gate.ts';
import type { SettleQueue } from '../budget/settle-queue.ts';
import type { RequestRecord } from '../store/types.ts';

export interface PipelineDeps extends SettleDeps {
  clock: Clock;
  forwarder: Forwarder;
  limits: { maxJsonBodyBytes: number; maxSseEventBytes: number; maxRequestBodyBytes: number };
  /** Budgets; a getter because a config reload swaps the gate's budget list. */
  budgets?: { gate: BudgetGate; settles: SettleQueue };
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

  // 2. Budget gate: reserve the expected cost atomically, or answer 429 without forwarding.
  let admission: Admission = NO_ADMISSION;
  if (deps.budgets?.gate.active && isMeteredPath(method, path) && !free) {
    admission = await deps.budgets.gate.admit({
      id,
      keyId: caller.keyId,
      tag: caller.tag,
      model: facts?.model ?? null,
      path,
      bytes: facts?.bytes ?? 0,
      maxTokens: facts?.maxTokens ?? null,
      betas,
      priority: req.headers['x-meter-priority'] === 'low' ? 'low' : 'normal',
      retry: Number(req.headers['x-stainless-retry-count'] ?? 0) > 0,
    });
    const refusal = refusalOf(admission);
    if (refusal) {
      req.resume(); // the body was read already unless oversized; drain whatever is left
      sendProxyError(res, refusal.error, `req_meter_${id}`);
      settle(deps, {
        id, ts, method, path, caller, facts, free, status: refusal.error.status, betas,
        outcome: missing(refusal.reason, facts),
        latencyMs: deps.clock.monotonic() - t0, ttftMs: null, upstreamLatencyMs: null,
      });
      return;
    }
    if (admission.kind === 'admitted') for (const [k, v] of Object.entries(admission.headers)) res.setHeader(k, v);
  }

  // 3. Forward, observing the response through the usage tap.
  const tap = new UsageTap({
    path,
    method,
    // settle() falls back to the request's model when the response names none; asking for it
    // here would parse every request body, which most requests never need (request-body.ts).
    requestModel: null,
    maxJsonBodyBytes: deps.limits.maxJsonBodyBytes,
    maxSseEventBytes: deps.limits.maxSseEventBytes,
  });
  deps.forwarder.forward(
    req,
    res,
    body,
    new Proxied(deps, res, tap, { id, ts, t0, method, path, caller, facts, free, betas, admission }),
    facts !== null && !free,
  );
}

/** What the pipeline knew before forwarding, carried to the end of the exchange. */
interface Before {
  id: string;
  ts: number;
  t0: number;
  method: string;
  path: string;
  caller: Caller;
  facts: RequestFacts | null;
  free: boolean;
  betas: readonly string[];
  admission: Admission;
}

/**
 * The forwarding hooks of one request: timings and status as the response passes, then
 * settle once it is over. A class rather than an object of closures: one shape, and no
 * function objects allocated per request.
 */
class Proxied implements ForwardHooks {
  readonly #deps: PipelineDeps;
  readonly #res: ServerResponse;
  readonly #tap: UsageTap;
  readonly #b: Before;
  readonly #tForward: number;
  #status = 502;
  #upstreamLatencyMs: number | null = null;
  #ttftMs: number | null = null;
  #streamed: boolean | undefined = undefined;

  constructor(deps: PipelineDeps, res: ServerResponse, tap: UsageTap, before: Before) {
    this.#deps = deps;
    this.#res = res;
    this.#tap = tap;
    this.#b = before;
    this.#tForward = deps.clock.monotonic();
  }

  onResponseStart(s: number, headers: IncomingHttpHeaders): void {
    this.#status = s;
    this.#upstreamLatencyMs = this.#deps.clock.monotonic() - this.#tForward;
    if (s >= 200 && s < 300) this.#streamed = isEventStream(headers['content-type']);
    this.#tap.onResponseStart(s, headers);
  }

  onData(chunk: Buffer): void {
    if (this.#ttftMs === null) this.#ttftMs = this.#deps.clock.monotonic() - this.#b.t0;
    this.#tap.onData(chunk);
  }

  onEnd(how: 'complete' | 'aborted'): void {
    // Without a decoder to wait for (the usual case) the outcome is ready now: no promise.
    // This runs inside a response listener: a bug in the tap must become a record, not a throw.
    let now: UsageOutcome | null;
    try {
      now = this.#tap.finishNow(how);
    } catch (err) {
      this.#deps.logger.error({ err, id: this.#b.id }, 'usage tap failed');
      now = missing('unparseable_body', this.#b.facts);
    }
    if (now !== null) return this.finish(now);
    this.#tap.finish(how).then(
      (outcome) => this.finish(outcome),
      (err: unknown) => {
        this.#deps.logger.error({ err, id: this.#b.id }, 'usage tap failed');
        this.finish(missing('unparseable_body', this.#b.facts));
      },
    );
  }

  onError(err: ProxyError): void {
    this.#status = err.status;
    sendProxyError(this.#res, err, `req_meter_${this.#b.id}`);
    this.#deps.logger.warn({ id: this.#b.id, code: err.code, cause: String(err.cause) }, err.message);
    this.finish(missing('upstream_unreachable', this.#b.facts));
  }

  /** Where every path ends: price, record, metrics, log; then the budget's real cost. */
  finish(outcome: UsageOutcome): void {
    const b = this.#b;
    const deps = this.#deps;
    const record = settle(deps, {
      id: b.id,
      ts: b.ts,
      method: b.method,
      path: b.path,
      caller: b.caller,
      facts: b.facts,
      free: b.free,
      status: this.#status,
      outcome,
      latencyMs: deps.clock.monotonic() - b.t0,
      ttftMs: this.#ttftMs,
      upstreamLatencyMs: this.#upstreamLatencyMs,
      betas: b.betas,
      streamed: this.#streamed,
      reservedPico: b.admission.kind === 'admitted' ? b.admission.amount.pico : null,
    });
    if (deps.budgets) settleBudgets(deps.budgets, b.admission, record, b.facts?.bytes ?? 0);
  }
}

/** Most requests meet no budget: one shared answer instead of an object per request. */
const NO_ADMISSION: Admission = Object.freeze({ kind: 'none' });
const NO_BETAS: readonly string[] = Object.freeze([]);

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

function isEventStream(contentType: string | string[] | undefined): boolean {
  const v = Array.isArray(contentType) ? contentType[0] : contentType;
  return v !== undefined && v.trimStart().toLowerCase().startsWith('text/event-stream');
}

function parseBetas(h: string | string[] | undefined): readonly string[] {
  if (h === undefined) return NO_BETAS;
  const all = Array.isArray(h) ? h.join(',') : h;
  return all
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A gate answer that stops the request here, as the error the client gets and the reason we record. */
function refusalOf(a: Admission): { error: ProxyError; reason: 'rejected_by_budget' | 'budget_store_unreachable' } | null {
  if (a.kind === 'denied') {
    const d = a.denial;
    return {
      reason: 'rejected_by_budget',
      error: new ProxyError('budget_exhausted', d.status, 'rate_limit_error', d.message, {
        headers: { ...d.headers, 'retry-after': String(d.retryAfterS), 'x-should-retry': String(d.shouldRetry) },
      }),
    };
  }
  if (a.kind === 'store_error' && !a.allow) {
    return {
      reason: 'budget_store_unreachable',
      error: new ProxyError('budget_store_unreachable', 503, 'api_error', 'claude-meter: budget store unreachable and the budget fails closed (on_store_error: deny)', {
        headers: { 'retry-after': '5', 'x-should-retry': 'true' },
      }),
    };
  }
  return null;
}

/** After the response: the real cost replaces the reservation (queued if the store is down). */
function settleBudgets(b: NonNullable<PipelineDeps['budgets']>, a: Admission, r: RequestRecord, bytes: number): void {
  if (a.kind !== 'admitted' && !(a.kind === 'store_error' && a.allow)) return;
  const u = r.usage;
  const tokens = u === null ? 0 : u.input + u.output + u.cacheCreation + u.cacheRead;
  b.settles.push({
    refs: a.refs,
    budgets: a.budgets,
    ...(a.kind === 'admitted' ? { amount: a.amount } : {}),
    id: r.id,
    actual: { pico: r.unpriced ? 0 : r.costPicoUsd, tokens },
  });
  if (u !== null && !r.partial) b.gate.observe(r.model, r.keyId, bytes, u);
}

/** The pipeline's byte limits from the config (construction and reload share this). */
export function pipelineLimits(config: Config): PipelineDeps['limits'] {
  return {
    maxJsonBodyBytes: config.limits.max_json_body_bytes,
    maxSseEventBytes: config.limits.max_sse_event_bytes,
    maxRequestBodyBytes: config.limits.max_request_body_bytes,
  };
}
