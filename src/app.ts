import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TimerHandle } from './lib/clock.ts';
import type { Config } from './config/types.ts';
import { internalError } from './core/errors.ts';
import { anthropic } from './api/anthropic/index.ts';
import { drainServer } from './http/drain.ts';
import { serve } from './http/serve.ts';
import { sendProxyError } from './http/respond.ts';
import { buildGraph, type Graph, type GraphOptions } from './compose/graph.ts';
import { buildSnapshot } from './compose/snapshot.ts';
import { firstConnect, type FirstConnect } from './redis/client.ts';

/** How long start-up waits for a Redis that neither answers nor refuses (a blackholed address). */
const CONNECT_GRACE_MS = 2_000;
/** After the drain, how long the exchanges it ended get to make their records (a decoder finishing). */
const RECORD_GRACE_MS = 1_000;

export interface AppOptions extends GraphOptions {
  /** Run the forecast loop on its timer (default true; tests drive `forecasts.update(now)` themselves). */
  forecasting?: boolean;
}

export interface App
  extends Pick<Graph, 'store' | 'recorder' | 'metrics' | 'gate' | 'forecasts' | 'holdSweeper' | 'batchPoller' | 'reconciler'> {
  server: http.Server;
  /** Apply a reloaded config: one new snapshot (pricing, limits, admin token, alerts, forecast settings, upstreams) and the budgets. */
  reload(next: Config): void;
  /**
   * Resolves once the store connection is up, or has failed once, or after a short grace
   * period, with how it went (null: no Redis configured); never rejects. Memoized.
   */
  ready(): Promise<FirstConnect | null>;
  /**
   * Wait until every record and budget settle in flight has been written or queued (spend under
   * leases sent, their unused headroom returned), and every alert they raised delivered or failed (tests).
   */
  flush(): Promise<void>;
  listen(): Promise<AddressInfo>;
  /**
   * Stops accepting, closes idle connections, lets requests in flight finish until
   * `listen.drain_timeout_ms` and cuts the rest (recorded as partial), then writes or journals
   * every record and settle and closes the stores. Idempotent.
   */
  close(): Promise<void>;
}

/** Composition root: the graph (compose/graph.ts) served over HTTP, with its lifetime. No globals. */
export function createApp(opts: AppOptions): App {
  const { config, logger } = opts;
  const g = buildGraph(opts);
  const { redis, recorder, settles, forecasts, reconciler } = g;

  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    serve(g, req, res).catch((err: unknown) => {
      // Not req.url: its query may hold a credential.
      logger.error({ err: String(err), method: req.method }, 'internal error');
      sendProxyError(res, internalError(), 'req_meter_internal', anthropic);
    });
  });
  // Generation can take minutes between request and last byte; Node's default 5-minute
  // requestTimeout only covers receiving the request, and headersTimeout its headers.
  server.requestTimeout = 0;

  // Traffic must flow while Redis is down, at start-up as later: records wait in the journal,
  // budgets follow on_store_error, and the client keeps reconnecting. So wait only briefly.
  let connecting: Promise<FirstConnect | null> | null = null;
  const ready = (): Promise<FirstConnect | null> => {
    connecting ??= redis === null ? Promise.resolve(null) : firstConnect(redis, opts.clock, CONNECT_GRACE_MS);
    return connecting;
  };

  const app: App = {
    server,
    store: g.store,
    recorder,
    metrics: g.metrics,
    gate: g.gate,
    forecasts,
    holdSweeper: g.holdSweeper,
    batchPoller: g.batchPoller,
    reconciler,
    reload(next) {
      // One synchronous step: no request sees the new snapshot with the old budgets or upstreams.
      const snapshot = buildSnapshot(next, { logger, clock: opts.clock }, g.metrics, g.upstreams);
      const old = g.live.swap(snapshot);
      g.reloadBudgets(next.budgets);
      g.upstreams.commit(snapshot.upstreams);
      void old.alerter.close();
      // Its timer runs only once reconciliation is on; a reload that turns it off idles it.
      if (next.reconcile.enabled && opts.forecasting !== false) reconciler.start();
    },
    ready,
    async flush() {
      await g.pipeline.batches.metering.idle();
      await recorder.flush();
      await g.pipeline.keyHints?.flush();
      await settles.flush();
      await g.gate.flushLeases();
      await g.live.current.alerter.flush();
    },
    async listen() {
      await ready();
      if (opts.forecasting !== false) forecasts.start();
      g.holdSweeper.start();
      g.batchPoller.start();
      // Tests that drive time themselves (forecasting: false) drive reconciler.tick(now) too.
      if (opts.forecasting !== false && config.reconcile.enabled) reconciler.start();
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.listen.port, config.listen.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
  };

  let closing: Promise<void> | null = null;
  async function shutdown(): Promise<void> {
    const exchanges = g.pipeline.exchanges;
    const drained = drainServer(server, {
      timers: opts.clock,
      deadlineMs: config.listen.drain_timeout_ms,
      onDeadline: () =>
        logger.warn(
          { in_flight: exchanges.size, drain_timeout_ms: config.listen.drain_timeout_ms },
          'drain deadline reached: cutting the requests still in flight (streams are recorded as partial)',
        ),
    });
    // Requests still waiting for budget headroom get their 429 now, not after max_wait_ms; the settle feed's connection closes.
    await g.gate.close();
    await drained;
    // A cut exchange makes its record when its socket closes, which can come after the server's close.
    if (exchanges.size > 0) {
      let grace: TimerHandle | null = null;
      await Promise.race([exchanges.idle(), new Promise<void>((resolve) => (grace = opts.clock.setTimeout(resolve, RECORD_GRACE_MS)))]);
      if (grace !== null) opts.clock.clearTimeout(grace);
    }
    // A sweep or poll under way finishes its settles and records before they close.
    await Promise.all([g.holdSweeper.stop(), g.batchPoller.stop()]);
    // Results downloads still claiming their lines (the store may be down: not for ever).
    const metering = g.pipeline.batches.metering;
    if (metering.size > 0) {
      let grace: TimerHandle | null = null;
      await Promise.race([metering.idle(), new Promise<void>((resolve) => (grace = opts.clock.setTimeout(resolve, RECORD_GRACE_MS)))]);
      if (grace !== null) opts.clock.clearTimeout(grace);
    }
    g.upstreams.close();
    await forecasts.stop();
    await reconciler.stop();
    await settles.close();
    await g.gate.closeLeases();
    await recorder.close();
    await g.live.current.alerter.close();
    await g.store.close();
    await g.budgetStore.close();
    await g.batchStore.close();
    if (redis) await redis.quit().catch(() => redis.disconnect());
  }
  return app;
}
