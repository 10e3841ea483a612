import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/types.ts';
import type { Clock } from './lib/clock.ts';
import type { Logger } from './lib/logger.ts';
import type { MeterStore } from './store/types.ts';
import { createMetrics, type MeterMetrics } from './metrics/registry.ts';
import { Forwarder } from './upstream/forward.ts';
import { handleProxied, pipelineLimits, type PipelineDeps } from './http/pipeline.ts';
import { handleAdmin, isAdminPath, type AdminDeps } from './http/admin.ts';
import { ProxyError } from './core/errors.ts';
import { sendProxyError } from './http/errors.ts';
import { Recorder } from './store/recorder.ts';
import { MemoryStore } from './store/memory-store.ts';
import { RedisStore } from './store/redis-store.ts';
import { createRedisClient, createRedisCluster } from './store/redis-client.ts';
import { buildPricer } from './pricing/build.ts';
import { VERSION } from './version.ts';
import type { BudgetGate } from './budget/gate.ts';
import { MemoryBudgetStore } from './budget/memory-budget-store.ts';
import { RedisBudgetStore } from './budget/redis-budget-store.ts';
import type { BudgetStore } from './budget/types.ts';
import { budgetEvents } from './budget/events.ts';
import { WebhookAlerter } from './alerts/webhook.ts';
import type { ForecastService } from './forecast/service.ts';
import { forecastEvents } from './forecast/events.ts';
import { wireBudgets } from './wire/budgets.ts';
import type { Cluster, Redis } from 'ioredis';

export interface AppOptions {
  config: Config;
  clock: Clock;
  logger: Logger;
  /** Collect Node process metrics (off in tests to keep scrapes small). */
  defaultMetrics?: boolean;
  /** Inject a store (tests, simulate); otherwise built from config. */
  store?: MeterStore;
  /** Inject a budget store (tests, simulate); otherwise built from config. */
  budgetStore?: BudgetStore;
  /** Run the forecast loop on its timer (default true; tests drive `forecasts.update(now)` themselves). */
  forecasting?: boolean;
}

export interface App {
  server: http.Server;
  store: MeterStore;
  recorder: Recorder;
  metrics: MeterMetrics;
  gate: BudgetGate;
  forecasts: ForecastService;
  /** Apply a reloaded config: budgets, pricing, alerts, admin token, limits. */
  reload(next: Config): void;
  /** Resolves once the store connection is up (or after a short grace period when it is not). */
  ready(): Promise<void>;
  /** Wait until every record and budget settle in flight has been written or queued (tests). */
  flush(): Promise<void>;
  listen(): Promise<AddressInfo>;
  /** Stops accepting, waits for in-flight records to be written or journaled, closes the store. */
  close(): Promise<void>;
}

/** Composition root: builds every component from config, owns their lifetimes. No globals. */
export function createApp(opts: AppOptions): App {
  const { config, clock, logger } = opts;
  const metrics = createMetrics({
    keyLabel: config.metrics.key_label,
    tagLabel: config.metrics.tag_label,
    defaultMetrics: opts.defaultMetrics ?? true,
  });
  const pricer = buildPricer(config);
  // One Redis connection for metering records and budgets; the stores do not own it.
  const redis = buildRedis(config, logger);
  const store = opts.store ?? buildStore(config, clock, redis);
  const budgetStore =
    opts.budgetStore ??
    (redis ? new RedisBudgetStore(redis, { prefix: config.store.redis.key_prefix, ownsClient: false }) : new MemoryBudgetStore());
  const recorder = new Recorder({
    store,
    logger,
    journalMaxRecords: config.store.journal_max_records,
    onEvent: (e, n) => {
      metrics.storeEvents.inc({ event: e }, n);
    },
  });
  metrics.journalDepth = () => recorder.stats().journaled;
  const forwarder = new Forwarder({
    url: config.upstream.url,
    apiKey: config.upstream.api_key,
    headersTimeoutMs: config.upstream.headers_timeout_ms,
    bodyTimeoutMs: config.upstream.body_timeout_ms,
    connectTimeoutMs: config.upstream.connect_timeout_ms,
    connections: config.upstream.connections,
  });

  let alerter = newAlerter(config, logger, metrics);
  const budgets = wireBudgets({
    budgets: config.budgets,
    forecast: config.forecast,
    store: budgetStore,
    meter: store,
    pricer: () => pipeline.pricer,
    clock,
    logger,
    gateEvents: budgetEvents(metrics, (e) => alerter.send(e), () => clock.now()),
    forecastEvents: forecastEvents(metrics, (e) => alerter.send(e)),
  });
  const { gate, forecasts, settles } = budgets;
  metrics.settlesPending = () => settles.stats().pending;

  const pipeline: PipelineDeps = {
    clock,
    forwarder,
    pricer,
    metrics,
    logger,
    record: (r) => recorder.record(r),
    warnedModels: new Set(),
    limits: pipelineLimits(config),
    budgets: { gate, settles },
  };
  const admin: AdminDeps = {
    store,
    gate,
    forecasts,
    adminToken: config.admin.token,
    metrics,
    clock,
    version: VERSION,
    pricingVersion: pricer.version,
    healthExtras: () => ({ recorder: recorder.stats(), upstream: config.upstream.url }),
  };

  /**
   * Give Redis a moment to connect so the first requests are not journaled needlessly;
   * if it is down, go on anyway: traffic must flow, records wait in the journal.
   */
  const waitForRedis = async (): Promise<void> => {
    if (redis && redis.status !== 'ready') await Promise.race([once(redis, 'ready'), sleep(2_000)]);
  };

  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const path = req.url ?? '/';
    const handler = isAdminPath(path) ? handleAdmin(admin, req, res) : handleProxied(pipeline, req, res);
    handler.catch((err: unknown) => {
      logger.error({ err: String(err), path }, 'internal error');
      sendProxyError(res, new ProxyError('internal', 500, 'api_error', 'claude-meter internal error'), 'req_meter_internal');
    });
  });
  // Generation can take minutes between request and last byte; Node's default 5-minute
  // requestTimeout only covers receiving the request, and headersTimeout its headers.
  server.requestTimeout = 0;

  return {
    server,
    store,
    recorder,
    metrics,
    gate,
    forecasts,
    reload(next) {
      pipeline.pricer = buildPricer(next);
      admin.pricingVersion = pipeline.pricer.version;
      admin.adminToken = next.admin.token;
      pipeline.limits = pipelineLimits(next);
      budgets.reload(next);
      const old = alerter;
      alerter = newAlerter(next, logger, metrics);
      void old.close();
    },
    ready: waitForRedis,
    async flush() {
      await recorder.flush();
      await settles.flush();
    },
    listen: async () => {
      await waitForRedis();
      if (opts.forecasting !== false) forecasts.start();
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.listen.port, config.listen.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      forwarder.close();
      await forecasts.stop();
      await settles.close();
      await recorder.close();
      await alerter.close();
      await store.close();
      await budgetStore.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** One connection (or cluster client) shared by the metering and budget stores; null: in-memory. */
function buildRedis(config: Config, logger: Logger): Redis | Cluster | null {
  const { url, cluster_nodes: nodes } = config.store.redis;
  if (nodes.length > 0) {
    return createRedisCluster(
      nodes.map((n) => {
        const i = n.lastIndexOf(':');
        return { host: n.slice(0, i), port: Number(n.slice(i + 1)) };
      }),
      { logger },
    );
  }
  return url ? createRedisClient(url, { logger }) : null;
}

function buildStore(config: Config, clock: Clock, redis: Redis | Cluster | null): MeterStore {
  if (redis === null) {
    return new MemoryStore({ clock, bucketTtlSeconds: config.store.bucket_ttl_days * 86_400, eventsMaxLen: 100_000 });
  }
  return new RedisStore(redis, {
    prefix: config.store.redis.key_prefix,
    bucketTtlSeconds: config.store.bucket_ttl_days * 86_400,
    eventsMaxLen: config.store.events_max_len,
    ownsClient: false,
  });
}

function newAlerter(config: Config, logger: Logger, metrics: MeterMetrics): WebhookAlerter {
  return new WebhookAlerter({
    url: config.alerts.webhook_url,
    timeoutMs: config.alerts.timeout_ms,
    maxAttempts: config.alerts.max_attempts,
    logger,
    onResult: (result) => metrics.alerts.inc({ result }),
  });
}
