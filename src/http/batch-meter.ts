/**
 * The meter of one results download (docs/batches.md): the JSONL passes to the client untouched
 * while its lines are read here. Each `succeeded` line is claimed in the batch store (so it
 * counts once across downloads and proxies), priced at batch prices as the upstream bills it,
 * recorded for the batch's creator at the batch's end, and counted on the budgets it matches.
 * `errored`, `canceled` and `expired` lines cost nothing and are only counted. A download read
 * to its end with every claim answered releases the batch's hold; a cut one leaves it for a retry.
 */
import type { BatchResultLine, Dialect } from '../core/dialect.ts';
import type { Caller } from '../core/request.ts';
import { totalTokens, type Usage, type UsageMissingReason, type UsageOutcome } from '../core/usage.ts';
import type { Biller } from '../pricing/types.ts';
import { meterPriced } from '../meter/record.ts';
import { modelLabel, recordMetrics } from '../metrics/record.ts';
import type { BatchOrigin, BatchState } from '../store/batch-store.ts';
import type { RequestRecord } from '../store/types.ts';
import { chargeShare, releaseHold, type BatchHold } from './batch-holds.ts';
import { MAX_BATCH_REQUESTS } from '../store/batch-store.ts';
import type { PipelineDeps } from './exchange.ts';
import type { Upstream } from './upstreams.ts';

/** Claims go to the store in groups of at most this many ids: one round trip each. */
const CLAIM_GROUP = 1_000;

/** The path batch spend is recorded and budgeted under: the create call's. */
export const BATCH_PATH = '/v1/messages/batches';

export class ResultsMeter {
  readonly #deps: PipelineDeps;
  readonly #batchId: string;
  readonly #caller: Caller;
  readonly #upstream: Upstream;
  readonly #dialect: Dialect;
  #reader: ReturnType<NonNullable<Dialect['batches']>['newResults']> | null = null;
  #state: Promise<BatchState | null> = Promise.resolve(null);
  #chain: Promise<void> = Promise.resolve();
  #pending: BatchResultLine[] = [];
  /** A claim or record failed: the download cannot prove every line counted, so the hold stays. */
  #failed = false;
  #counts = { succeeded: 0, recorded: 0, free: 0 };
  /** Lines read in this download. */
  #seen = 0;

  constructor(deps: PipelineDeps, ctx: { batchId: string; caller: Caller; upstream: Upstream; dialect: Dialect }) {
    this.#deps = deps;
    this.#batchId = ctx.batchId;
    this.#caller = ctx.caller;
    this.#upstream = ctx.upstream;
    this.#dialect = ctx.dialect;
  }

  /** A 2xx results body begins. */
  start(): void {
    const api = this.#dialect.batches;
    if (api === undefined) return;
    this.#reader = api.newResults(this.#deps.settings().limits.maxJsonBodyBytes);
    // Held until the last line is recorded: a shutdown waits for these records like any exchange's.
    this.#deps.batches.metering.begin();
    this.#state = this.#deps.batches.store.info(this.#batchId, this.#deps.clock.now()).catch((err: unknown) => {
      this.#fail(err, 'batch store unreachable: results recorded for the downloading caller');
      return null;
    });
  }

  /** A results body that cannot be read (a compressed one): said once, never a silent $0. */
  unreadable(why: string): void {
    this.#deps.logger.warn({ batch: this.#batchId, why }, 'batch results passed unread: not metered');
  }

  data(chunk: Buffer): void {
    const reader = this.#reader;
    if (reader === null) return;
    this.#take(reader.push(chunk));
  }

  /**
   * The body ended (or was cut); resolves once every line is recorded: true when the results were
   * read and counted whole. `partial`: the answer was not the whole file (a 206, a content-range),
   * whatever its lines say.
   */
  end(how: 'complete' | 'aborted', partial = false): Promise<boolean> {
    const reader = this.#reader;
    if (reader === null) return Promise.resolve(false);
    const tail = reader.end();
    this.#take(tail.lines);
    this.#flush();
    // Every line was a result line and claimed: only then can no line be left to count (a malformed one had no custom_id to claim).
    const whole = how === 'complete' && !tail.cut && !partial && reader.malformed === 0;
    const done = this.#chain
      .then(() => this.#finish(whole, reader.malformed))
      .catch((err: unknown) => {
        this.#fail(err, 'batch results metering failed');
        return false;
      })
      .finally(() => this.#deps.batches.metering.end());
    this.#chain = done.then(() => undefined);
    return done;
  }

  #take(lines: BatchResultLine[]): void {
    for (const line of lines) {
      // Past the API's most requests per batch, the body is not a batch's results: stop reading it, and do not grow.
      if (++this.#seen > MAX_BATCH_REQUESTS) {
        if (this.#seen === MAX_BATCH_REQUESTS + 1) this.#fail(null, 'batch results past 100,000 lines: the rest is not metered');
        return;
      }
      // An unknown result type (a newer API) may be billed: it counts like a succeeded line whose usage cannot be read.
      if (line.type === 'succeeded' || line.type === 'unknown') this.#pending.push(line);
      else {
        this.#counts.free++;
        this.#deps.metrics.batchLines.inc({ outcome: 'free' });
      }
    }
    if (this.#pending.length >= CLAIM_GROUP) this.#flush();
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const group = this.#pending;
    this.#pending = [];
    this.#chain = this.#chain.then(() => this.#meter(group));
  }

  async #meter(lines: BatchResultLine[]): Promise<void> {
    const deps = this.#deps;
    this.#counts.succeeded += lines.length;
    const state = await this.#state;
    let claimed: string[];
    try {
      claimed = (
        await deps.batches.store.claim(
          this.#batchId,
          lines.map((l) => l.customId),
          deps.clock.now(),
        )
      ).claimed;
    } catch (err) {
      this.#fail(err, 'batch store unreachable: these result lines are not recorded; a later download records them');
      deps.metrics.batchLines.inc({ outcome: 'unrecorded' }, lines.length);
      return;
    }
    if (claimed.length < lines.length) deps.metrics.batchLines.inc({ outcome: 'counted_before' }, lines.length - claimed.length);
    if (claimed.length === 0) return;
    const fresh = new Set(claimed);
    const origin = state?.origin ?? null;
    const caller: Caller = origin === null ? this.#caller : { keyId: origin.keyId, tag: origin.tag };
    const ts = state?.endedAt ?? deps.clock.now();
    // A hold already turned into spend at its estimate counts these lines there: they are recorded, not counted again.
    const budgets = state?.holdSettled === true ? null : deps.budgets;
    const hold = (origin?.hold ?? null) as BatchHold | null;
    let counted = 0;
    for (const line of lines) {
      if (!fresh.delete(line.customId)) continue;
      counted += this.#record(line, caller, ts, budgets, hold);
    }
    // What the lines counted, so a hold spent at its estimate after this download (cut) spends only the rest.
    if (counted > 0 && origin !== null)
      await deps.batches.store
        .addCounted(this.#batchId, counted, deps.clock.now())
        .catch((err: unknown) => this.#fail(err, 'batch store unreachable'));
  }

  /** Records a claimed line and counts it on budgets; returns what it counted (pico of the billing currency). */
  #record(line: BatchResultLine, caller: Caller, ts: number, budgets: PipelineDeps['budgets'], hold: BatchHold | null): number {
    const deps = this.#deps;
    const upstream = this.#upstream;
    const outcome = lineOutcome(line.usage, line.model, line.messageId, 'invalid_usage');
    const { record, cacheSavingsPicoUsd } = meterPriced(upstream.biller, {
      id: `batch_${this.#batchId}_${line.customId}`,
      ts,
      method: 'POST',
      path: BATCH_PATH,
      caller,
      upstream: upstream.name,
      free: false,
      status: 200,
      outcome,
      model: line.model,
      stream: false,
      latencyMs: 0,
      ttftMs: null,
      upstreamLatencyMs: null,
      betas: [],
    });
    deps.recorder.record(record);
    recordMetrics(deps.metrics, record, modelLabel(deps.metrics, record.model, record.status), cacheSavingsPicoUsd);
    this.#counts.recorded++;
    deps.metrics.batchLines.inc({ outcome: 'recorded' });
    if (budgets === null || !budgets.gate.active) return 0;
    if (record.usage === null) {
      // Billed, but its usage cannot be read: it counts its share of the hold's estimate, as a request counts its reservation.
      if (hold !== null) chargeShare(budgets, hold, record.id);
      return hold === null ? 0 : Math.floor((hold.expected.money?.pico ?? 0) / Math.max(1, hold.requests ?? 1));
    }
    const match = { keyId: caller.keyId, tag: caller.tag, model: record.model, path: BATCH_PATH, upstream: upstream.name };
    const found = budgets.gate.catalog.refsFor(match, ts);
    // An unpriced line still counts its tokens.
    const money = record.billedUnpriced ? null : { currency: record.currency, pico: record.billedPico };
    if (found.refs.length > 0) budgets.settles.push({ ...found, id: record.id, actual: { money, tokens: totalTokens(record.usage) ?? 0 } });
    return money?.pico ?? 0;
  }

  async #finish(whole: boolean, malformed: number): Promise<boolean> {
    const deps = this.#deps;
    const log = { batch: this.#batchId, whole, malformed, ...this.#counts };
    if (malformed > 0) deps.metrics.batchLines.inc({ outcome: 'malformed' }, malformed);
    if (!whole || this.#failed) {
      deps.logger.info(log, 'batch results read in part: the batch keeps its hold until a download is read whole');
      return false;
    }
    const now = deps.clock.now();
    await deps.batches.store.claimedAll(this.#batchId, now);
    const state = await this.#state;
    const hold = (state?.origin?.hold ?? null) as BatchHold | null;
    if (hold !== null && deps.budgets !== null && (await deps.batches.store.settleHold(this.#batchId, now))) {
      releaseHold(deps.budgets, hold);
      deps.metrics.batchHolds.inc({ outcome: 'released' });
    }
    deps.logger.info(log, 'batch results metered');
    return true;
  }

  #fail(err: unknown | null, message: string): void {
    this.#failed = true;
    this.#deps.logger.error({ err, batch: this.#batchId }, message);
  }
}

/**
 * The record of a batch that expired with no results read through the proxy: its spend is
 * unknown, so it is recorded as missing (`batch_results_unseen`, counted billed-unread) while
 * its budgets count the hold's estimate. Dated at the batch's expiry, for its creator, in the
 * currency of the upstream that bills it.
 */
export function unseenBatchRecord(biller: Biller, batchId: string, origin: BatchOrigin): RequestRecord {
  return meterPriced(biller, {
    id: `batch_${batchId}_unseen`,
    ts: origin.expiresAt,
    method: 'POST',
    path: BATCH_PATH,
    caller: { keyId: origin.keyId, tag: origin.tag },
    upstream: origin.upstream,
    free: false,
    status: 200,
    outcome: lineOutcome(null, null, null, 'batch_results_unseen'),
    model: null,
    stream: false,
    latencyMs: 0,
    ttftMs: null,
    upstreamLatencyMs: null,
    betas: [],
  }).record;
}

/** A result line's outcome: its usage, or why there is none. */
function lineOutcome(usage: Usage | null, model: string | null, messageId: string | null, missing: UsageMissingReason): UsageOutcome {
  return {
    usage,
    model,
    missingReason: usage === null ? missing : null,
    partial: false,
    estimated: false,
    errorType: null,
    stopReason: null,
    messageId,
    adjusted: null,
  };
}
