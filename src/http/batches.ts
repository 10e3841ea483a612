/**
 * Message Batches through the proxy (docs/batches.md), in flow order:
 *   create: the body read streaming and estimated at batch prices → one budget hold → forwarded →
 *           the new batch remembered with its creator (key, tag, upstream) and its hold;
 *   retrieve, cancel, delete, list: forwarded, each `results_url` rewritten to come through the proxy;
 *   results: streamed through untouched while each `succeeded` line is priced at batch prices,
 *           claimed once per batch and custom_id across proxies, recorded for the creator at the
 *           batch's end, and counted on its budgets; read whole, the batch's hold is released.
 * Every call is also an exchange of its own (recorded like any passthrough call).
 */
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import type { BatchCall, BatchRequests, Dialect } from '../core/dialect.ts';
import type { Caller, Credential } from '../core/request.ts';
import type { ProxyError } from '../core/errors.ts';
import type { ForwardHooks } from '../upstream/forward.ts';
import type { BatchOrigin } from '../store/batch-store.ts';
import { BatchObjectFilter, isJson } from './batch-objects.ts';
import { BATCH_HOLD_TTL_MS, BATCH_LIFE_MS, discardHold, emptyHold, holdOf, UNSEEN_PREFIX, type BatchHold } from './batch-holds.ts';
import { ResultsMeter } from './batch-meter.ts';
import type { Exchange } from './exchange.ts';
import type { PipelineDeps, PipelineSettings } from './exchange.ts';
import type { Upstream } from './upstreams.ts';
import { readBatchBody, SpoolFailed, type BatchBody } from './batch-body.ts';
import { BodiesFull } from './request-body.ts';
import { refuseUnrecorded } from './respond.ts';
import { batchSpoolFailed, requestBodiesFull } from '../core/errors.ts';
import type { BatchItem } from '../budget/gate.ts';

/** What the pipeline hands over for a batch call. */
export interface BatchCallContext {
  call: BatchCall;
  upstream: Upstream;
  dialect: Dialect;
  path: string;
  query: string;
  caller: Caller;
  credential: Credential | null;
  settings: PipelineSettings;
  /** Makes the call's own exchange (recorded like any passthrough call). */
  exchange: () => Exchange;
}

/** The proxy's base for rewritten results URLs: `public_url` and the route prefix, or null for relative URLs. */
function resultsBase(settings: PipelineSettings, upstream: Upstream): string | null {
  const pub = settings.batches.publicUrl;
  if (pub === null) return null;
  return pub.replace(/\/+$/, '') + (upstream.route ?? '');
}

export async function forwardBatchCall(
  deps: PipelineDeps,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: BatchCallContext,
): Promise<void> {
  const store = deps.batches.store;
  const api = ctx.dialect.batches;
  if (api === undefined) throw new Error('a batch call needs a dialect with batches');
  const { call, upstream } = ctx;
  let hold: BatchHold | null = null;
  let body: Buffer | import('node:stream').Readable | null = null;
  let release: (() => void) | null = null;
  const gate = deps.budgets?.gate;
  let exchange: Exchange;

  if (call.kind === 'create' && gate?.active === true) {
    const limits = ctx.settings.limits;
    let read: BatchBody<BatchRequests>;
    try {
      read = await readBatchBody(req, { memoryBytes: limits.maxRequestBodyBytes, maxBytes: limits.maxBatchBodyBytes }, api.newScan(), {
        buffers: deps.bodies,
        max: limits.maxBufferedRequestBytes,
        spools: deps.spools,
        maxSpooled: limits.maxSpooledBatchBytes,
        res,
      });
    } catch (err) {
      upstream.inFlight.end();
      // Nothing was forwarded and nothing is billed, so nothing is recorded; a refusal is counted.
      const where = { method: req.method ?? 'POST', path: ctx.path, upstream: upstream.name };
      if (err instanceof BodiesFull) {
        deps.metrics.bodiesRefused.inc();
        refuseUnrecorded(res, requestBodiesFull(err.limit), ctx.dialect, deps.logger, where);
      } else if (err instanceof SpoolFailed) {
        // The disk, not the client: answered, so the client is not left waiting for a reply that never comes.
        deps.logger.error({ err: err.cause, ...where }, 'batch body spool failed: the create is refused unread');
        refuseUnrecorded(res, batchSpoolFailed(), ctx.dialect, deps.logger, where);
      }
      return; // otherwise the client went away while uploading
    }
    body = read.forward;
    release = read.release;
    exchange = ctx.exchange();
    // The budget must see the requests the upstream bills: a body naming a member twice is refused, not guessed.
    if (read.scan.conflict !== null) {
      exchange.ambiguous(read.scan.conflict);
      read.release();
      return;
    }
    // A body the scan could not read whole would hold next to nothing: refused while a budget applies.
    const encoding = req.headers['content-encoding'];
    if (read.oversized || (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity')) {
      exchange.unestimable(read.oversized ? 'too_large' : 'encoded');
      read.release();
      req.resume();
      return;
    }
    const id = `batch_${exchange.id}`;
    const { admission, forward } = await exchange.hold((leaving) =>
      gate.admitBatch({
        id,
        keyId: ctx.caller.keyId,
        tag: ctx.caller.tag,
        path: ctx.path,
        upstream: upstream.name,
        biller: upstream.biller,
        betas: [],
        items: batchItems(read),
        ttlMs: BATCH_HOLD_TTL_MS,
        leaving,
      }),
    );
    hold = holdOf(id, admission, requestCount(read));
    if (!forward) {
      if (hold !== null && deps.budgets !== null) {
        discardHold(deps.budgets, hold);
        deps.metrics.batchHolds.inc({ outcome: 'discarded' });
      }
      read.release();
      req.resume();
      return;
    }
  } else {
    exchange = ctx.exchange();
  }
  const held: BatchHold = hold ?? emptyHold(`batch_${exchange.id}`);

  let remembered = false;
  const now = (): number => deps.clock.now();
  const filter = (contentType: string | undefined) =>
    call.kind === 'results' || !isJson(contentType)
      ? null
      : new BatchObjectFilter({
          api,
          base: resultsBase(ctx.settings, upstream),
          onObjects: (objects) => {
            for (const o of objects) {
              if (call.kind === 'create' && !remembered) {
                remembered = true;
                const origin: BatchOrigin = {
                  keyId: ctx.caller.keyId,
                  tag: ctx.caller.tag,
                  upstream: upstream.name,
                  createdAt: o.createdAt ?? now(),
                  // Never later than the hold's own life: the sweeper must see the batch expire before its reservation lapses.
                  expiresAt: Math.min(o.expiresAt ?? Number.POSITIVE_INFINITY, now() + BATCH_LIFE_MS),
                  hold: held,
                };
                // A store that cannot take it keeps it until it returns (store/kept-batch-store.ts).
                store.remember(o.id, origin, now()).catch((err: unknown) => {
                  deps.logger.error({ err, batch: o.id }, 'batch not remembered: its hold lapses in 24 h');
                });
              } else if (o.endedAt !== null) {
                store.noteEnded(o.id, o.endedAt, now()).catch((err: unknown) => {
                  deps.logger.warn({ err, batch: o.id }, 'batch store unreachable: the batch end is not noted');
                });
              }
            }
          },
          onTooLarge: () => deps.logger.warn({ path: ctx.path }, 'batch answer too large to rewrite: results_url passes unchanged'),
        });

  const hooks: ForwardHooks =
    call.kind === 'results' && call.id !== null
      ? new ResultsHooks(exchange, new ResultsMeter(deps, { batchId: call.id, caller: ctx.caller, upstream, dialect: ctx.dialect }))
      : call.kind === 'create'
        ? new CreateHooks(exchange, (refused) => {
            release?.();
            if (remembered || hold === null || deps.budgets === null) return;
            if (refused) {
              discardHold(deps.budgets, hold);
              deps.metrics.batchHolds.inc({ outcome: 'discarded' });
              return;
            }
            // The upstream may have created a batch we never saw (the client left, the answer could not be read):
            // its hold is kept under our own id and spent at its estimate when it expires, flagged, never dropped.
            const pending = `${UNSEEN_PREFIX}${exchange.id}`;
            deps.logger.warn({ hold: pending }, 'batch create answer not read: its hold stays and counts as spend at its estimate in 24 h');
            const at = now();
            store
              .remember(
                pending,
                {
                  keyId: ctx.caller.keyId,
                  tag: ctx.caller.tag,
                  upstream: upstream.name,
                  createdAt: at,
                  expiresAt: at + BATCH_LIFE_MS,
                  hold,
                },
                at,
              )
              .catch((err: unknown) => deps.logger.error({ err, hold: pending }, 'batch hold not remembered: it lapses in 24 h'));
          })
        : exchange;

  exchange.startForwarding();
  upstream.forwarder.forward(
    req,
    res,
    {
      target: ctx.path + ctx.query,
      credential: ctx.credential,
      body,
      encoding: 'identity',
      rewrite: { responseFilter: filter },
    },
    hooks,
  );
}

/**
 * What a create body asks for, for its estimate: its requests per model and max_tokens. A body
 * the scan could not read (the upstream will most likely refuse it) counts as one request of
 * unknown model and its size, as an unread request body does.
 */
function batchItems(read: BatchBody<BatchRequests>): readonly BatchItem[] {
  const groups = read.scan.readable ? read.scan.groups : [];
  return groups.length > 0 ? groups : [{ model: null, maxTokens: null, count: 1, bytes: read.bytes }];
}

/** The batch's requests as its body said (1 for one the scan could not read, as batchItems counts it). */
function requestCount(read: BatchBody<BatchRequests>): number {
  const n = read.scan.readable ? read.scan.groups.reduce((s, g) => s + g.count, 0) : 0;
  return Math.max(1, n);
}

/** Connect failures: the upstream never received the create, so no batch can exist. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * A create's exchange, and at its end what becomes of the hold: `refused` (the upstream answered
 * an error, or never got the request) when no batch can exist; otherwise, unless the answer was
 * read and its batch remembered, a batch may exist that the proxy never saw.
 */
class CreateHooks implements ForwardHooks {
  readonly #x: Exchange;
  readonly #ended: (refused: boolean) => void;
  #status = 0;
  constructor(x: Exchange, ended: (refused: boolean) => void) {
    this.#x = x;
    this.#ended = ended;
  }
  onResponseStart(status: number, headers: IncomingHttpHeaders): void {
    this.#status = status;
    this.#x.onResponseStart(status, headers);
  }
  onData(chunk: Buffer): void {
    this.#x.onData(chunk);
  }
  onEnd(how: 'complete' | 'aborted'): void {
    this.#x.onEnd(how);
    this.#ended(this.#status >= 400);
  }
  onError(err: ProxyError): void {
    this.#x.onError(err);
    const code = (err.cause as NodeJS.ErrnoException | undefined)?.code ?? '';
    this.#ended(NEVER_SENT.has(code));
  }
}

/** A results download's exchange, and its 2xx body's lines to the meter. */
class ResultsHooks implements ForwardHooks {
  readonly #x: Exchange;
  readonly #meter: ResultsMeter;
  #ok = false;
  #partial = false;
  constructor(x: Exchange, meter: ResultsMeter) {
    this.#x = x;
    this.#meter = meter;
  }
  onResponseStart(status: number, headers: IncomingHttpHeaders): void {
    this.#x.onResponseStart(status, headers);
    const enc = headers['content-encoding'];
    // Asked for identity: a compressed answer anyway passes unread (and says so).
    this.#ok = status >= 200 && status < 300 && (enc === undefined || String(enc).trim().toLowerCase() === 'identity');
    // A range of the file (206, content-range) is metered line by line but never proves the results read whole.
    this.#partial = status !== 200 || headers['content-range'] !== undefined;
    if (this.#ok) this.#meter.start();
    else if (status < 300) this.#meter.unreadable('compressed results');
  }
  onData(chunk: Buffer): void {
    this.#x.onData(chunk);
    if (this.#ok) this.#meter.data(chunk);
  }
  onEnd(how: 'complete' | 'aborted'): void {
    this.#x.onEnd(how);
    if (this.#ok) void this.#meter.end(how, this.#partial);
  }
  onError(err: ProxyError): void {
    this.#x.onError(err);
  }
}
