/**
 * One exchange: a client request and its upstream response, from arrival to the last byte.
 * It carries what the pipeline learned before forwarding, observes the response as the
 * forwarder's hooks, and ends in `#end`: the one place that prices, records, settles the
 * budget, counts and logs it, whichever way the exchange ended.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { bounded } from '../core/bound.ts';
import type { Dialect, HeaderFacts } from '../core/dialect.ts';
import { ambiguousBody, batchUnestimable, budgetExhausted, budgetStoreUnreachable, type ProxyError } from '../core/errors.ts';
import type { Caller, RequestFacts, RouteKind } from '../core/request.ts';
import { mayBeBilled, totalTokens, type UsageMissingReason, type UsageOutcome } from '../core/usage.ts';
import type { Clock } from '../lib/clock.ts';
import type { InFlight } from '../lib/in-flight.ts';
import type { Logger } from '../lib/logger.ts';
import type { Pricer } from '../pricing/types.ts';
import type { RequestRecord } from '../store/types.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import { modelLabel, recordMetrics } from '../metrics/record.ts';
import type { BudgetGate, Admission } from '../budget/gate.ts';
import type { SettleQueue } from '../budget/settle-queue.ts';
import type { Cost } from '../budget/types.ts';
import type { BudgetMatch } from '../budget/catalog.ts';
import type { ForwardHooks } from '../upstream/forward.ts';
import { UsageTap } from '../usage/tap.ts';
import { meterPriced, requestLogFields } from '../meter/record.ts';
import { parseFacts, type ReadBody } from './request-body.ts';
import type { Upstream, UpstreamSet } from './upstreams.ts';
import type { BodyBuffers } from './request-body.ts';
import type { BatchStore } from '../store/batch-store.ts';
import type { KeyHintBook } from './key-hints.ts';
import { sendProxyError } from './respond.ts';

/** What a reload may change; read once per request, so a request sees one config. */
export interface PipelineSettings {
  readonly pricer: Pricer;
  /** Where requests go: the default upstream and the routed ones. */
  readonly upstreams: UpstreamSet;
  readonly limits: {
    maxJsonBodyBytes: number;
    maxSseEventBytes: number;
    maxDecompressedBytes: number;
    maxDecompressionRatio: number;
    maxRequestBodyBytes: number;
    maxBufferedRequestBytes: number;
    maxBatchBodyBytes: number;
    maxSpooledBatchBytes: number;
  };
  /** Message Batches: `public_url`, the absolute base of rewritten results URLs (null: relative ones). */
  readonly batches: { readonly publicUrl: string | null };
}

/** The components an exchange ends into. */
export interface ExchangeDeps {
  clock: Clock;
  logger: Logger;
  recorder: { record(r: RequestRecord): void };
  metrics: MeterMetrics;
  budgets: { gate: BudgetGate; settles: SettleQueue } | null;
  /** Unknown models warn once each, not once per request. */
  warnedModels: Set<string>;
  /** Exchanges begun and not yet ended: a shutdown waits for their records. */
  exchanges: InFlight;
}

/** What the pipeline needs besides what an exchange ends into. */
export interface PipelineDeps extends ExchangeDeps {
  /**
   * Message Batches (docs/batches.md): what the proxy remembers of them between their create
   * call and their results, and the results downloads still being metered (a shutdown and a
   * flush wait for their records).
   */
  batches: { store: BatchStore; metering: InFlight };
  /** Keeps each Anthropic key's partial hint once per key id, for `reconcile`; absent: none kept. */
  keyHints?: KeyHintBook;
  /** Request body bytes held by every request in flight (limits.max_buffered_request_bytes). */
  bodies: BodyBuffers;
  /** Batch create bytes in temporary files, across creates in flight (limits.max_spooled_batch_bytes). */
  spools: BodyBuffers;
  /** The live settings, the upstreams included; a reload swaps the whole snapshot. */
  settings(): PipelineSettings;
}

/** What the pipeline knows when the request arrives. */
export interface Arrival {
  id: string;
  ts: number;
  t0: number;
  method: string;
  /** The path the upstream and the meter see: the canonical path less the route prefix that selected the upstream. */
  path: string;
  route: RouteKind;
  /** Where the request goes; its pool is held until the exchange ends. */
  upstream: Upstream;
  /** The upstream's dialect for this path (http/upstreams.ts): the route, facts, usage and error shape. */
  dialect: Dialect;
  caller: Caller;
  headers: HeaderFacts;
  body: ReadBody | null;
}

/** Unpriced models warned about, at most: past it a flood of made-up names logs nothing more (the metric still counts them). */
const MAX_WARNED_MODELS = 1_000;

/** nginx's "client closed request": what a request whose client left before its answer is recorded with. */
const CLIENT_CLOSED = 499;

/** Most requests meet no budget: one shared answer instead of an object per request. */
const NO_ADMISSION: Admission = Object.freeze({ kind: 'none' });

export class Exchange implements ForwardHooks {
  readonly #deps: ExchangeDeps;
  readonly #settings: PipelineSettings;
  readonly #res: ServerResponse;
  readonly #a: Arrival;
  #facts: RequestFacts | null | undefined = undefined;
  #admission: Admission = NO_ADMISSION;
  #tap: UsageTap | null = null;
  #tForward = 0;
  #status = 502;
  #upstreamLatencyMs: number | null = null;
  #ttftMs: number | null = null;
  /** A 2xx response: whether it was an SSE stream; undefined: the request's `stream` flag decides. */
  #streamed: boolean | undefined = undefined;
  /** Made only when the request waits for budget headroom: aborts when the client leaves. */
  #gone: AbortController | null = null;

  constructor(deps: ExchangeDeps, settings: PipelineSettings, res: ServerResponse, arrival: Arrival) {
    this.#deps = deps;
    this.#settings = settings;
    this.#res = res;
    this.#a = arrival;
    deps.exchanges.begin();
  }

  /** Ours (not the upstream's): also the id of what it reserves. */
  get id(): string {
    return this.#a.id;
  }

  /** The request body's metered facts, parsed on the first call only (a JSON parse); null without a body. */
  facts(): RequestFacts | null {
    if (this.#facts === undefined) this.#facts = this.#a.body === null ? null : parseFacts(this.#a.body, this.#a.dialect);
    return this.#facts;
  }

  /** Budget admission before forwarding. False: refused, answered and ended here. */
  async admit(gate: BudgetGate, priority: 'low' | 'normal'): Promise<boolean> {
    const a = this.#a;
    const facts = this.facts();
    // The budget must see the model the upstream bills: a body naming two is refused, not guessed.
    if (facts?.conflict !== undefined) return this.#refuse(ambiguousBody(facts.conflict), 'ambiguous_request');
    this.#admission = await gate.admit({
      id: a.id,
      keyId: a.caller.keyId,
      tag: a.caller.tag,
      model: facts?.model ?? null,
      path: a.path,
      upstream: a.upstream.name,
      biller: a.upstream.biller,
      bytes: a.body?.bytes ?? 0,
      maxTokens: facts?.maxTokens ?? null,
      betas: a.headers.betas,
      priority,
      retry: a.headers.retry,
      leaving: () => this.#leaving(),
    });
    return this.#answer(this.#admission);
  }

  /**
   * A batch create's hold (docs/batches.md): admitted like a request, but settled by the batch's
   * results, so this exchange's end never settles it. False: refused (or the client left),
   * answered and ended here; an admitted hold is then the caller's to release.
   */
  async hold(admit: (leaving: () => AbortSignal) => Promise<Admission>): Promise<{ admission: Admission; forward: boolean }> {
    const admission = await admit(() => this.#leaving());
    return { admission, forward: this.#answer(admission) };
  }

  /** Goes on with an admitted (or allowed) request, or answers why not and ends the exchange. */
  #answer(admission: Admission): boolean {
    // Gone while it waited (or just as it was admitted): nothing to answer; recorded, and a reservation released by the settle.
    if (admission.kind === 'left' || this.#gone?.signal.aborted === true) {
      this.#status = CLIENT_CLOSED;
      this.#end(missing('refused_by_budget'));
      return false;
    }
    this.#gone?.abort(); // detaches the close listener
    const refusal = refusalOf(admission);
    if (refusal === null) {
      if (admission.kind === 'admitted') for (const [k, v] of Object.entries(admission.headers)) this.#res.setHeader(k, v);
      return true;
    }
    return this.#refuse(refusal.error, refusal.reason);
  }

  /** A body naming a metered member twice with different values: refused, answered and ended here. */
  ambiguous(member: string): false {
    return this.#refuse(ambiguousBody(member), 'ambiguous_request');
  }

  /** A batch body budgets cannot estimate (too large, encoded): refused, answered and ended here. */
  unestimable(why: 'too_large' | 'encoded'): false {
    return this.#refuse(batchUnestimable(why), why === 'too_large' ? 'body_too_large' : 'unparseable_body');
  }

  /** Answers the error ourselves before anything was forwarded, and ends the exchange with the reason recorded. */
  #refuse(error: ProxyError, reason: UsageMissingReason): false {
    this.#status = error.status;
    sendProxyError(this.#res, error, `req_meter_${this.#a.id}`, this.#a.dialect);
    this.#end(missing(reason));
    return false;
  }

  #leaving(): AbortSignal {
    const ac = new AbortController();
    this.#gone = ac;
    const res = this.#res;
    if (res.destroyed) ac.abort();
    const onClose = (): void => ac.abort();
    res.once('close', onClose);
    ac.signal.addEventListener('abort', () => res.off('close', onClose), { once: true });
    return ac.signal;
  }

  /** Called just before forwarding: the response is observed from here on. */
  startForwarding(): void {
    const limits = this.#settings.limits;
    this.#tap = new UsageTap({
      dialect: this.#a.dialect,
      route: this.#a.route,
      maxJsonBodyBytes: limits.maxJsonBodyBytes,
      maxSseEventBytes: limits.maxSseEventBytes,
      maxDecompressedBytes: limits.maxDecompressedBytes,
      maxDecompressionRatio: limits.maxDecompressionRatio,
      // Facts already read (by the budget or a dialect's rewrite): a stream cut short may estimate from them. Never parsed here.
      request: this.#facts ?? null,
    });
    this.#tForward = this.#deps.clock.monotonic();
  }

  onResponseStart(status: number, headers: IncomingHttpHeaders): void {
    this.#status = status;
    this.#upstreamLatencyMs = this.#deps.clock.monotonic() - this.#tForward;
    if (status >= 200 && status < 300) this.#streamed = isEventStream(headers['content-type']);
    this.#tap?.onResponseStart(status, headers);
  }

  onData(chunk: Buffer): void {
    if (this.#ttftMs === null) this.#ttftMs = this.#deps.clock.monotonic() - this.#a.t0;
    this.#tap?.onData(chunk);
  }

  onEnd(how: 'complete' | 'aborted'): void {
    if (how === 'aborted' && this.#upstreamLatencyMs === null) {
      // Aborted before any response header: the client left (the forwarder reports an upstream
      // failure through onError). Its doing, not an upstream outage; nothing was answered to meter.
      this.#status = CLIENT_CLOSED;
      return this.#end(missing('client_gone'));
    }
    const tap = this.#tap as UsageTap;
    // Runs inside a response listener: a bug in the tap must become a record, not a throw.
    let now: UsageOutcome | null;
    try {
      now = tap.finishNow(how); // without a decoder to wait for (the usual case) no promise
    } catch (err) {
      this.#deps.logger.error({ err, id: this.#a.id }, 'usage tap failed');
      now = missing('unparseable_body');
    }
    if (now !== null) return this.#end(now);
    tap.finish(how).then(
      (outcome) => this.#end(outcome),
      (err: unknown) => {
        this.#deps.logger.error({ err, id: this.#a.id }, 'usage tap failed');
        this.#end(missing('unparseable_body'));
      },
    );
  }

  onError(err: ProxyError): void {
    this.#status = err.status;
    sendProxyError(this.#res, err, `req_meter_${this.#a.id}`, this.#a.dialect);
    this.#deps.logger.warn({ id: this.#a.id, code: err.code, cause: bounded(String(err.cause), 1_024) }, err.message);
    this.#end(missing('upstream_unreachable'));
  }

  /** The end of every exchange, in order: outcome → price → record → budget settle → metrics → log. */
  #end(outcome: UsageOutcome): void {
    const a = this.#a;
    const deps = this.#deps;
    const model = outcome.model ?? this.facts()?.model ?? null;
    const { record, cacheSavingsPicoUsd, problem } = meterPriced(a.upstream.biller, {
      id: a.id,
      ts: a.ts,
      method: a.method,
      path: a.path,
      caller: a.caller,
      upstream: a.upstream.name,
      free: a.route === 'free',
      status: this.#status,
      outcome,
      model,
      stream: this.#streamed ?? this.facts()?.stream ?? false,
      latencyMs: deps.clock.monotonic() - a.t0,
      ttftMs: this.#ttftMs,
      upstreamLatencyMs: this.#upstreamLatencyMs,
      betas: a.headers.betas,
    });
    if (problem !== undefined) deps.logger.warn({ id: a.id, model, problem }, 'usage cannot be priced: recorded as invalid_usage');
    if (record.unpriced && model !== null && !deps.warnedModels.has(model) && deps.warnedModels.size < MAX_WARNED_MODELS) {
      deps.warnedModels.add(model);
      deps.logger.warn({ model }, 'model has no price: its requests are recorded as unpriced, not $0');
    }
    deps.recorder.record(record);
    if (deps.budgets !== null) {
      // Admitted without a model (a body the proxy could not read): the response's model still finds its budgets.
      // (#facts is set once admission read the body; undefined when no budget was consulted.)
      const unread =
        this.#facts !== undefined && (this.#facts?.model ?? null) === null
          ? { keyId: a.caller.keyId, tag: a.caller.tag, model: null, path: a.path, upstream: a.upstream.name }
          : null;
      settleBudget(deps.budgets, this.#admission, record, {
        bytes: a.body?.bytes ?? 0,
        maxTokens: this.#facts?.maxTokens ?? null,
        unread,
        now: deps.clock.now(),
      });
    }
    recordMetrics(deps.metrics, record, modelLabel(deps.metrics, record.model, record.status), cacheSavingsPicoUsd);
    const reserved =
      this.#admission.kind === 'admitted' ? (this.#admission.expected.money ?? { currency: a.upstream.biller.currency, pico: 0 }) : null;
    deps.logger.info(requestLogFields(record, reserved), 'request');
    a.upstream.inFlight.end();
    deps.exchanges.end();
  }
}

/**
 * The real cost replaces the reservation (queued if the store is down); good usage teaches the
 * estimator. A response the upstream may have billed but whose usage could not be read settles
 * at the reservation (what the request was expected to cost), never at $0; a stream cut short
 * settles at its recorded cost, whose output is estimated.
 */
function settleBudget(
  b: NonNullable<ExchangeDeps['budgets']>,
  a: Admission,
  r: RequestRecord,
  req: { bytes: number; maxTokens: number | null; unread: BudgetMatch | null; now: number },
): void {
  // No budget applied to a request without a readable model (a `match.model` budget cannot match
  // it): the billed model's budgets still count what the response says it cost.
  if (a.kind === 'none') {
    if (req.unread === null || r.model === null) return;
    const found = b.gate.catalog.refsForModel(req.unread, r.model, [], req.now);
    if (found.refs.length === 0 || r.usage === null || r.billedUnpriced) return;
    b.settles.push({ ...found, id: r.id, actual: { money: billed(r), tokens: totalTokens(r.usage) ?? 0 } });
    return;
  }
  if (a.kind !== 'admitted' && !(a.kind === 'store_error' && a.allow)) return;
  const u = r.usage;
  let actual: Cost;
  if (u !== null) actual = { money: billed(r), tokens: totalTokens(u) ?? 0 };
  else if (r.usageMissing !== null && mayBeBilled(r.usageMissing)) actual = a.expected;
  else actual = { money: null, tokens: 0 };
  // Refused upstream (a bad key, an unknown model) and billed nothing: instances it made must not outlive it.
  const discard = r.status >= 400 && (actual.money?.pico ?? 0) === 0 && actual.tokens === 0;
  // Reserved on the `unknown` model's instances: the spend also counts where the billed model's budgets are.
  const extra =
    req.unread !== null && r.model !== null && !discard
      ? b.gate.catalog.refsForModel(req.unread, r.model, a.refs, req.now)
      : { refs: [], budgets: [] };
  b.settles.push({
    refs: [...a.refs, ...extra.refs],
    budgets: [...a.budgets, ...extra.budgets],
    ...(a.kind === 'admitted' ? { amounts: a.amounts, leased: a.leased } : {}),
    id: r.id,
    actual,
    ...(discard ? { discard: true } : {}),
  });
  if (u !== null && !r.partial) b.gate.observe(r.model, r.keyId, req.bytes, u, req.maxTokens);
}

/** What the upstream billed for a record, in its currency; null when unpriced. */
function billed(r: RequestRecord): Cost['money'] {
  return r.billedUnpriced ? null : { currency: r.currency, pico: r.billedPico };
}

/** A gate answer that stops the request here, as the error the client gets and the reason we record. */
function refusalOf(a: Admission): { error: ProxyError; reason: 'refused_by_budget' | 'budget_store_unreachable' } | null {
  if (a.kind === 'refused') {
    const r = a.refusal;
    return { reason: 'refused_by_budget', error: budgetExhausted(r.status, r.message, r.retryAfterS, r.shouldRetry, r.headers) };
  }
  if (a.kind === 'store_error' && !a.allow) return { reason: 'budget_store_unreachable', error: budgetStoreUnreachable() };
  return null;
}

/** No usage: the exchange's model comes from the request body when the end asks for it. */
function missing(reason: UsageMissingReason): UsageOutcome {
  return {
    usage: null,
    model: null,
    missingReason: reason,
    partial: false,
    estimated: false,
    errorType: null,
    stopReason: null,
    messageId: null,
    adjusted: null,
  };
}

function isEventStream(contentType: string | string[] | undefined): boolean {
  const v = Array.isArray(contentType) ? contentType[0] : contentType;
  return v?.trimStart().toLowerCase().startsWith('text/event-stream') === true;
}
