import { bounded } from '../core/bound.ts';
import type { Caller } from '../core/request.ts';
import { totalTokens, type UsageMissingReason, type UsageOutcome } from '../core/usage.ts';
import { picoToUnits, picoToUsd, USD, type Money } from '../core/money.ts';
import type { Biller } from '../pricing/types.ts';
import type { RequestRecord } from '../store/types.ts';

/** Everything measured about one exchange once it is over, before pricing. */
export interface Measurement {
  id: string;
  ts: number;
  method: string;
  path: string;
  caller: Caller;
  /** The configured upstream that answered (its config name). */
  upstream: string;
  /** Free by design (count_tokens): never priced, never missing usage. */
  free: boolean;
  status: number;
  outcome: UsageOutcome;
  /** The response's model, else the request's. */
  model: string | null;
  /** What the response was, else what the request asked for. */
  stream: boolean;
  latencyMs: number;
  ttftMs: number | null;
  upstreamLatencyMs: number | null;
  betas: readonly string[];
}

/** Measurement → priced record. Pure: an unknown model is flagged unpriced, never $0. */
export function meterRecord(biller: Biller, m: Measurement): RequestRecord {
  return meterPriced(biller, m).record;
}

/**
 * The record, and what its cache reads saved (integer pico-USD, 0 if none): a metric only, not
 * stored. One pricing call per request: the bill carries the list price and the billed amount.
 * Usage that cannot be priced exactly (one request's tokens or cost past 2^53: no real request
 * comes near) is recorded as `invalid_usage` with `problem` saying why, not as unpriced.
 */
export function meterPriced(biller: Biller, m: Measurement): { record: RequestRecord; cacheSavingsPicoUsd: number; problem?: string } {
  let usage = m.outcome.usage;
  let usageMissing: UsageMissingReason | null = m.free ? null : m.outcome.missingReason;
  let costPicoUsd = 0;
  let cacheSavingsPicoUsd = 0;
  let unpriced = false;
  let billedPico = 0;
  let billedUnpriced = false;
  let billedModel = m.model;
  let problem: string | undefined;
  if (usage !== null && !m.free) {
    const bill = biller.bill(m.model, usage, { at: m.ts, betas: m.betas });
    problem = bill.problem ?? (totalTokens(usage) === null ? 'the tokens of one request add up past 2^53' : undefined);
    if (bill.resolvedModel !== null) billedModel = bill.resolvedModel;
    if (problem !== undefined) {
      usage = null;
      usageMissing = 'invalid_usage';
    } else {
      costPicoUsd = bill.costPicoUsd;
      cacheSavingsPicoUsd = bill.cacheSavingsPicoUsd ?? 0;
      unpriced = bill.unpriced;
      billedPico = bill.billedPico;
      billedUnpriced = bill.billedUnpriced;
    }
  }
  const record: RequestRecord = {
    id: m.id,
    ts: m.ts,
    method: m.method,
    // A passthrough path is whatever the client sent (up to Node's 16 KB header limit).
    path: bounded(m.path),
    model: billedModel,
    keyId: m.caller.keyId,
    tag: m.caller.tag,
    status: m.status,
    stream: m.stream,
    usage,
    usageMissing,
    partial: m.outcome.partial,
    estimated: usage !== null && m.outcome.estimated,
    upstream: m.upstream,
    costPicoUsd,
    unpriced,
    currency: biller.currency,
    billedPico,
    billedUnpriced,
    usageAdjusted: usage === null ? null : m.outcome.adjusted,
    free: m.free,
    latencyMs: round3(m.latencyMs),
    ttftMs: m.ttftMs === null ? null : round3(m.ttftMs),
    upstreamLatencyMs: m.upstreamLatencyMs === null ? null : round3(m.upstreamLatencyMs),
    errorType: m.outcome.errorType,
    messageId: m.outcome.messageId,
  };
  return problem === undefined ? { record, cacheSavingsPicoUsd } : { record, cacheSavingsPicoUsd, problem };
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The request log line's fields: the record in log vocabulary, absent fields left out. */
export function requestLogFields(r: RequestRecord, reserved: Money | null): Record<string, unknown> {
  return {
    id: r.id,
    method: r.method,
    path: r.path,
    status: r.status,
    model: r.model,
    key_id: r.keyId,
    tag: r.tag || undefined,
    upstream: r.upstream,
    stream: r.stream,
    usage: r.usage,
    usage_missing: r.usageMissing ?? undefined,
    usage_adjusted: r.usageAdjusted ?? undefined,
    partial: r.partial || undefined,
    estimated: r.estimated || undefined,
    cost_usd: r.unpriced ? null : picoToUsd(r.costPicoUsd),
    unpriced: r.unpriced || undefined,
    // What the upstream bills, in units of its currency, beside the list price in USD.
    billed: r.billedUnpriced ? null : picoToUnits(r.billedPico),
    currency: r.currency,
    billed_unpriced: r.billedUnpriced || undefined,
    latency_ms: r.latencyMs,
    ttft_ms: r.ttftMs,
    upstream_ms: r.upstreamLatencyMs,
    error_type: r.errorType ?? undefined,
    // The reservation as the upstream bills it: `reserved_usd` keeps its meaning (dollars) and is there only for USD.
    reserved: reserved === null ? undefined : picoToUnits(reserved.pico),
    reserved_currency: reserved?.currency,
    reserved_usd: reserved?.currency === USD ? picoToUsd(reserved.pico) : undefined,
  };
}
