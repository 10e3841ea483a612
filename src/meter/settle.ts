import type { Pricer } from '../pricing/types.ts';
import type { RequestRecord } from '../store/types.ts';
import type { UsageOutcome } from '../core/usage.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import type { Logger } from '../lib/logger.ts';
import type { Caller } from '../http/identify.ts';
import type { RequestFacts } from '../http/request-body.ts';
import { modelLabel, recordMetrics } from '../metrics/record.ts';

/** Everything the pipeline measured about one exchange, handed over once it is over. */
export interface Exchange {
  id: string;
  ts: number;
  method: string;
  path: string;
  caller: Caller;
  facts: RequestFacts | null;
  /** Free by design (count_tokens). */
  free: boolean;
  status: number;
  outcome: UsageOutcome;
  latencyMs: number;
  ttftMs: number | null;
  upstreamLatencyMs: number | null;
  betas: readonly string[];
  /** A 2xx response: whether it was an SSE stream. Absent: the request's `stream` flag decides. */
  streamed?: boolean | undefined;
  /** Budget reservation made for this request (pico-USD), for the log line; null when no budget applied. */
  reservedPico?: number | null;
}

export interface SettleDeps {
  pricer: Pricer;
  metrics: MeterMetrics;
  logger: Logger;
  record: (r: RequestRecord) => void;
  /** Unknown models warn once each, not once per request. */
  warnedModels: Set<string>;
}

/** Outcome → priced record → store (async, via the recorder) + metrics + one log line. Never throws into the request. */
export function settle(deps: SettleDeps, x: Exchange): RequestRecord {
  const model = x.outcome.model ?? x.facts?.model ?? null;
  const usage = x.outcome.usage;
  let costPicoUsd = 0;
  let unpriced = false;
  let billedModel = model;
  if (usage !== null && !x.free) {
    const price = deps.pricer.price(model, usage, { at: x.ts, betas: x.betas });
    costPicoUsd = price.costPicoUsd;
    unpriced = price.unpriced;
    if (price.resolvedModel !== null) billedModel = price.resolvedModel;
    if (unpriced && model !== null && !deps.warnedModels.has(model)) {
      deps.warnedModels.add(model);
      deps.logger.warn({ model }, 'model has no price: its requests are recorded as unpriced, not $0');
    }
  }
  const record: RequestRecord = {
    id: x.id,
    ts: x.ts,
    method: x.method,
    path: x.path,
    model: billedModel,
    keyId: x.caller.keyId,
    tag: x.caller.tag,
    status: x.status,
    // What the response was, else what the request asked for (reading the latter parses the body).
    stream: x.streamed ?? x.facts?.stream ?? false,
    usage,
    usageMissing: x.free ? null : x.outcome.missingReason,
    partial: x.outcome.partial,
    costPicoUsd,
    unpriced,
    free: x.free,
    latencyMs: round3(x.latencyMs),
    ttftMs: x.ttftMs === null ? null : round3(x.ttftMs),
    upstreamLatencyMs: x.upstreamLatencyMs === null ? null : round3(x.upstreamLatencyMs),
    errorType: x.outcome.errorType,
    messageId: x.outcome.messageId,
  };
  deps.record(record);
  recordMetrics(deps.metrics, record, modelLabel(deps.metrics, record.model));
  deps.logger.info(
    {
      id: record.id,
      method: record.method,
      path: record.path,
      status: record.status,
      model: record.model,
      key: record.keyId,
      tag: record.tag || undefined,
      stream: record.stream,
      usage: record.usage,
      usage_missing: record.usageMissing ?? undefined,
      partial: record.partial || undefined,
      cost_usd: record.unpriced ? null : record.costPicoUsd / 1e12,
      unpriced: record.unpriced || undefined,
      latency_ms: record.latencyMs,
      ttft_ms: record.ttftMs,
      upstream_ms: record.upstreamLatencyMs,
      error_type: record.errorType ?? undefined,
      reserved_usd: x.reservedPico == null ? undefined : x.reservedPico / 1e12,
    },
    'request',
  );
  return record;
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
