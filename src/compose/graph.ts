/**
 * The component graph, built from a config: stores, recorder, upstreams, budgets and
 * forecasts, and the dependencies of the two request handlers. Nothing here listens or
 * starts a timer; app.ts serves the graph and owns its lifetime.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config/types.ts';
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { InFlight } from '../lib/in-flight.ts';
import type { MeterStore } from '../store/types.ts';
import { Recorder } from '../store/recorder.ts';
import { KeyHintBook } from '../http/key-hints.ts';
import { ReconcilePoller, type CaptureCheck } from '../report/reconcile-poller.ts';
import type { RecorderOptions } from '../store/recorder-options.ts';
import { createMetrics, type MeterMetrics } from '../metrics/registry.ts';
import type { Forwarder } from '../upstream/forward.ts';
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
import { buildBatchStore, buildBudgetStore, buildMeterStore, buildRedis, buildSettleFeed, redisConfigured } from './stores.ts';
import type { BatchStore } from '../store/batch-store.ts';
import { HoldSweeper } from '../http/batch-holds.ts';
import { BatchPoller } from '../http/batch-poller.ts';
import { unseenBatchRecord } from '../http/batch-meter.ts';
import { modelLabel, recordMetrics } from '../metrics/record.ts';
import { buildSnapshot, Live } from './snapshot.ts';
import { UpstreamPools, upstreamHealth } from './upstreams.ts';

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
  batchStore?: BatchStore;
  /** The default upstream's forwarder, for the graph's whole life (benchmarks swap the engine). */
  forwarder?: Forwarder;
  /** Recorder batching and retry settings (benchmarks). */
  recorder?: Partial<Omit<RecorderOptions, 'store' | 'logger' | 'clock' | 'onOutcome'>>;
  /** false: open no Redis connection, whatever the config names (check-config builds the graph to validate it). */
  connect?: boolean;
  /** What GET /metrics answers instead of this process's registry: all workers' metrics, aggregated (workers/). */
  scrape?: () => Promise<string>;
}

export interface Graph {
  live: Live;
  redis: Redis | Cluster | null;
  store: MeterStore;
  budgetStore: BudgetStore;
  batchStore: BatchStore;
  /** Turns the holds of batches that expired unseen into spend at their estimate (started by app.ts). */
  holdSweeper: HoldSweeper;
  /** Downloads results nobody fetched through the proxy, when `batches.poller.api_key` is set (started by app.ts). */
  batchPoller: BatchPoller;
  recorder: Recorder;
  metrics: MeterMetrics;
  /** Every upstream's connection pool, across reloads: commit a reloaded snapshot's upstreams, close at shutdown. */
  upstreams: UpstreamPools;
  gate: BudgetGate;
  forecasts: ForecastService;
  /** Continuous reconciliation with Anthropic's usage report; idle unless config reconcile.enabled. */
  reconciler: ReconcilePoller;
  settles: SettleQueue;
  /** Replaces the budget list of the gate and the forecaster together. */
  reloadBudgets(budgets: readonly BudgetConfig[]): void;
  pipeline: PipelineDeps;
  admin: AdminDeps;
}

export function buildGraph(o: GraphOptions): Graph {
  const { config, clock, logger } = o;
  const metrics = createMetrics({
    keyLabel: config.metrics.key_label,
    tagLabel: config.metrics.tag_label,
    maxLabelValues: config.metrics.max_label_values,
    defaultMetrics: o.defaultMetrics ?? true,
  });
  const upstreams = new UpstreamPools(o.forwarder);
  const live = new Live(buildSnapshot(config, { logger, clock }, metrics, upstreams));
  upstreams.commit(live.current.upstreams);
  const alert = (e: AlertEvent): void => live.current.alerter.send(e);
  // One Redis connection for metering records and budgets; the stores do not own it.
  const redis = o.connect === false ? null : buildRedis(config, logger);
  const store = o.store ?? buildMeterStore(config, clock, redis);
  const budgetStore = o.budgetStore ?? buildBudgetStore(config, redis);
  const batchStore = o.batchStore ?? buildBatchStore(config, redis, logger);
  const recorder = new Recorder({
    journalMaxRecords: config.store.journal_max_records,
    ...o.recorder,
    store,
    logger,
    clock,
    onOutcome: (outcome, n) => metrics.storeRecords.inc({ event: outcome }, n),
  });
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
    // Leasing saves a round trip to a shared ledger; in memory there is none to save.
    leases: redisConfigured(config) && config.store.redis.budget_leases,
  });
  const reconciler = new ReconcilePoller({
    config: () => live.current.config,
    store,
    pricer: () => live.current.pricer,
    lock: budgetStore,
    clock,
    logger,
    onCheck: (check, outcome) => exportCapture(metrics, check, outcome),
  });
  const bodies = new BodyBuffers();
  const spools = new BodyBuffers();
  metrics.bindSources({
    bufferedBodyBytes: () => bodies.held,
    spooledBatchBytes: () => spools.held,
    journalDepth: () => recorder.stats().journaled,
    settlesPending: () => settles.stats().pending + gate.owedSettles,
    storeReachable: async () => (await store.health()).reachable,
    usageSemantics: () =>
      [...live.current.upstreams.byName.values()].map((u) => {
        const { semantics, proven } = u.usageSemantics();
        return { upstream: u.name, semantics, proven };
      }),
  });

  const pipeline: PipelineDeps = {
    clock,
    logger,
    bodies,
    spools,
    recorder,
    metrics,
    budgets: { gate, settles },
    warnedModels: new Set(),
    exchanges: new InFlight(),
    batches: { store: batchStore, metering: new InFlight() },
    settings: () => live.current,
    keyHints: new KeyHintBook(store, clock, logger),
  };
  const admin: AdminDeps = {
    store,
    gate,
    forecasts,
    history: budgetStore,
    metrics,
    clock,
    version: VERSION,
    settings: () => live.current,
    upstreams: () => live.current.upstreams,
    // A relay's URL may carry a token in its path: health shows the origins only.
    ...(o.scrape ? { scrape: o.scrape } : {}),
    healthExtras: () => {
      const set = live.current.upstreams;
      return {
        recorder: recorder.stats(),
        upstream: set.default.shownUrl,
        upstreams: upstreamHealth(set),
        reconcile: reconcileHealth(live.current.config.reconcile.enabled, reconciler),
      };
    },
  };
  const holdSweeper = new HoldSweeper({
    store: batchStore,
    clock,
    logger,
    budgets: () => (gate.active ? { gate, settles } : null),
    record: (batchId, origin) => {
      const set = live.current.upstreams;
      const record = unseenBatchRecord((set.byName.get(origin.upstream) ?? set.default).biller, batchId, origin);
      metrics.batchHolds.inc({ outcome: 'spent_unseen' });
      recorder.record(record);
      recordMetrics(metrics, record, modelLabel(metrics, record.model, record.status));
    },
  });
  const batchPoller = new BatchPoller({
    pipeline,
    store: batchStore,
    clock,
    logger,
    settings: () => {
      const p = live.current.config.batches.poller;
      return { apiKey: p.api_key, intervalMs: p.interval_ms };
    },
    upstreamUrl: (name) => {
      const c = live.current.config;
      return [c.upstream, ...c.upstreams].find((u) => u.name === name)?.url ?? null;
    },
    lock: (key, ttlMs, now) => budgetStore.claimRefit(key, ttlMs, now),
  });
  return {
    live,
    redis,
    store,
    budgetStore,
    batchStore,
    holdSweeper,
    batchPoller,
    recorder,
    metrics,
    upstreams,
    gate,
    forecasts,
    reconciler,
    settles,
    reloadBudgets,
    pipeline,
    admin,
  };
}

/** A check's ratios as gauges, rebuilt whole, so a model that left the window leaves no series. */
function exportCapture(metrics: MeterMetrics, check: CaptureCheck | null, outcome: 'checked' | 'adopted' | 'failed'): void {
  metrics.reconcileChecks.inc({ outcome });
  if (check === null || outcome === 'failed') return;
  metrics.reconcileCapture.reset();
  for (const m of check.models) if (m.capture !== null) metrics.reconcileCapture.set({ model: m.model }, m.capture);
  metrics.reconcileLastCheck.set(check.at / 1000);
}

/** /_meter/health's `reconcile` (the status page's line): off, or the latest check's overall capture and when. */
function reconcileHealth(enabled: boolean, r: ReconcilePoller): Record<string, unknown> {
  if (!enabled) return { enabled: false };
  const c = r.latest();
  return {
    enabled: true,
    checked_at: c === null ? null : new Date(c.at).toISOString(),
    from: c === null ? null : new Date(c.from).toISOString(),
    to: c === null ? null : new Date(c.to).toISOString(),
    capture: c?.overall ?? null,
    error: r.lastError(),
  };
}
