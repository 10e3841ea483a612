/**
 * The component graph, built from a config: stores, recorder, forwarder, budgets and
 * forecasts, and the dependencies of the two request handlers. Nothing here listens or
 * starts a timer; app.ts serves the graph and owns its lifetime.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config/types.ts';
import { redactUrl } from '../config/describe.ts';
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { InFlight } from '../lib/in-flight.ts';
import { anthropic } from '../api/anthropic/index.ts';
import type { MeterStore } from '../store/types.ts';
import { Recorder } from '../store/recorder.ts';
import type { RecorderOptions } from '../store/recorder-options.ts';
import { createMetrics, type MeterMetrics } from '../metrics/registry.ts';
import { PoolForwarder, type Forwarder, type ForwarderOptions } from '../upstream/forward.ts';
import type { PipelineDeps } from '../http/pipeline.ts';
import { BodyBuffers } from '../http/request-body.ts';
import type { AdminDeps } from '../http/admin.ts';
import type { BudgetGate } from '../budget/gate.ts';
import type { SettleQueue } from '../budget/settle-queue.ts';
import type { BudgetStore } from '../budget/types.ts';
import { budgetEvents } from './budget-events.ts';
import type { ForecastService } from '../forecast/service.ts';
import type { BudgetConfig } from '../budget/types.ts';
import { wireBudgets } from './budgets.ts';
import { forecastEvents } from './forecast-events.ts';
import type { AlertEvent } from '../alerts/types.ts';
import { VERSION } from '../version.ts';
import { buildBudgetStore, buildMeterStore, buildRedis, buildSettleFeed } from './stores.ts';
import { buildSnapshot, Live } from './snapshot.ts';

export interface GraphOptions {
  config: Config;
  /** The time every part reads and waits on: systemClock in production, a ManualClock in tests that drive time. */
  clock: Timers;
  logger: Logger;
  /** Collect Node process metrics (off in tests to keep scrapes small). */
  defaultMetrics?: boolean;
  /** Replace a part built from config (tests, simulate, benchmarks). */
  store?: MeterStore;
  budgetStore?: BudgetStore;
  forwarder?: Forwarder;
  /** Recorder batching and retry settings (benchmarks). */
  recorder?: Partial<Omit<RecorderOptions, 'store' | 'logger' | 'clock' | 'onOutcome'>>;
  /** false: open no Redis connection, whatever the config names (check-config builds the graph to validate it). */
  connect?: boolean;
}

export interface Graph {
  live: Live;
  redis: Redis | Cluster | null;
  store: MeterStore;
  budgetStore: BudgetStore;
  recorder: Recorder;
  metrics: MeterMetrics;
  forwarder: Forwarder;
  gate: BudgetGate;
  forecasts: ForecastService;
  settles: SettleQueue;
  /** Replaces the budget list of the gate and the forecaster together. */
  reloadBudgets(budgets: readonly BudgetConfig[]): void;
  pipeline: PipelineDeps;
  admin: AdminDeps;
}

/** The forwarder's options from the config's upstream section (also what the benchmark's engines take). */
export function forwarderOptions(config: Config): ForwarderOptions {
  return {
    url: config.upstream.url,
    apiKey: config.upstream.api_key,
    credentialHeaders: anthropic.credentialHeaders,
    headersTimeoutMs: config.upstream.headers_timeout_ms,
    bodyTimeoutMs: config.upstream.body_timeout_ms,
    connectTimeoutMs: config.upstream.connect_timeout_ms,
    connections: config.upstream.connections,
  };
}

export function buildGraph(o: GraphOptions): Graph {
  const { config, clock, logger } = o;
  const metrics = createMetrics({
    keyLabel: config.metrics.key_label,
    tagLabel: config.metrics.tag_label,
    maxLabelValues: config.metrics.max_label_values,
    defaultMetrics: o.defaultMetrics ?? true,
  });
  const live = new Live(buildSnapshot(config, { logger, clock }, metrics));
  const alert = (e: AlertEvent): void => live.current.alerter.send(e);
  // One Redis connection for metering records and budgets; the stores do not own it.
  const redis = o.connect === false ? null : buildRedis(config, logger);
  const store = o.store ?? buildMeterStore(config, clock, redis);
  const budgetStore = o.budgetStore ?? buildBudgetStore(config, redis);
  const recorder = new Recorder({
    journalMaxRecords: config.store.journal_max_records,
    ...o.recorder,
    store,
    logger,
    clock,
    onOutcome: (outcome, n) => metrics.storeRecords.inc({ event: outcome }, n),
  });
  const forwarder = o.forwarder ?? new PoolForwarder(forwarderOptions(config));

  const feed = buildSettleFeed(config, redis, logger);
  const {
    gate,
    forecasts,
    settles,
    reload: reloadBudgets,
  } = wireBudgets({
    budgets: config.budgets,
    forecast: () => live.current.config.forecast,
    store: budgetStore,
    meter: store,
    pricer: () => live.current.pricer,
    rates: () => live.current.rates,
    clock,
    logger,
    gateEvents: budgetEvents(metrics, alert, () => clock.now()),
    forecastEvents: forecastEvents(metrics, alert),
    ...(feed ? { feed } : {}),
  });
  const bodies = new BodyBuffers();
  metrics.bindSources({
    bufferedBodyBytes: () => bodies.held,
    journalDepth: () => recorder.stats().journaled,
    settlesPending: () => settles.stats().pending,
    storeReachable: async () => (await store.health()).reachable,
  });

  const pipeline: PipelineDeps = {
    clock,
    logger,
    dialect: anthropic,
    forwarder,
    bodies,
    access: {
      injected: config.upstream.api_key !== null,
      accepted: config.upstream.client_key_ids.length > 0 ? new Set(config.upstream.client_key_ids) : null,
    },
    recorder,
    metrics,
    budgets: { gate, settles },
    warnedModels: new Set(),
    exchanges: new InFlight(),
    settings: () => live.current,
  };
  // A relay's URL may carry a token in its path: health shows the origin only.
  const upstream = redactUrl(config.upstream.url);
  const admin: AdminDeps = {
    store,
    gate,
    forecasts,
    history: budgetStore,
    metrics,
    clock,
    version: VERSION,
    settings: () => live.current,
    healthExtras: () => ({ recorder: recorder.stats(), upstream }),
  };
  return { live, redis, store, budgetStore, recorder, metrics, forwarder, gate, forecasts, settles, reloadBudgets, pipeline, admin };
}
