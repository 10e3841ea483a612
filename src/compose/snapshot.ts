/**
 * What a config reload replaces, as one immutable value: readers take `live.current` once
 * per request or tick, so a reload is one reference swap and nobody sees half a config.
 * The upstreams are part of it; their pools outlive a snapshot while unchanged (upstreams.ts).
 */
import type { Config } from '../config/types.ts';
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import type { Pricer } from '../pricing/types.ts';
import { buildPricer } from '../pricing/build.ts';
import { ExchangeRates } from '../core/currency.ts';
import type { PipelineSettings } from '../http/pipeline.ts';
import { WebhookAlerter } from '../alerts/webhook.ts';
import type { UpstreamPools } from './upstreams.ts';

export interface Snapshot extends PipelineSettings {
  readonly config: Config;
  readonly pricer: Pricer;
  /** `exchange_rates`, exact: what budgets count a cost billed in another currency at. */
  readonly rates: ExchangeRates;
  readonly adminToken: string | null;
  readonly protectMetrics: boolean;
  readonly pricingVersion: string;
  readonly alerter: WebhookAlerter;
}

/** Builds the next snapshot; its upstreams' new pools are in force once `pools.commit(snapshot.upstreams)` runs. */
export function buildSnapshot(
  config: Config,
  { logger, clock }: { logger: Logger; clock: Timers },
  metrics: MeterMetrics,
  pools: UpstreamPools,
): Snapshot {
  const pricer = buildPricer(config);
  return Object.freeze({
    config,
    pricer,
    rates: new ExchangeRates(config.exchange_rates),
    upstreams: pools.build(config, pricer),
    limits: {
      maxJsonBodyBytes: config.limits.max_json_body_bytes,
      maxSseEventBytes: config.limits.max_sse_event_bytes,
      maxDecompressedBytes: config.limits.max_decompressed_bytes,
      maxDecompressionRatio: config.limits.max_decompression_ratio,
      maxRequestBodyBytes: config.limits.max_request_body_bytes,
      maxBufferedRequestBytes: config.limits.max_buffered_request_bytes,
      maxBatchBodyBytes: config.limits.max_batch_body_bytes,
      maxSpooledBatchBytes: config.limits.max_spooled_batch_bytes,
    },
    batches: { publicUrl: config.batches.public_url },
    adminToken: config.admin.token,
    protectMetrics: config.admin.protect_metrics,
    pricingVersion: pricer.version,
    alerter: new WebhookAlerter({
      url: config.alerts.webhook_url,
      timeoutMs: config.alerts.timeout_ms,
      maxAttempts: config.alerts.max_attempts,
      logger,
      clock,
      onResult: (result) => metrics.alerts.inc({ result }),
    }),
  });
}

/** The one mutable reference to the current snapshot. */
export class Live {
  #current: Snapshot;
  constructor(first: Snapshot) {
    this.#current = first;
  }
  get current(): Snapshot {
    return this.#current;
  }
  /** Installs `next` and returns the snapshot it replaced, for the caller to close. */
  swap(next: Snapshot): Snapshot {
    const old = this.#current;
    this.#current = next;
    return old;
  }
}
