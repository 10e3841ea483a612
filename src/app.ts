import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/types.ts';
import { internalError } from './core/errors.ts';
import { anthropic } from './api/anthropic/index.ts';
import { serve } from './http/serve.ts';
import { sendProxyError } from './http/respond.ts';
import { buildGraph, type Graph, type GraphOptions } from './compose/graph.ts';
import { buildSnapshot } from './compose/snapshot.ts';

export interface AppOptions extends GraphOptions {
  /** Run the forecast loop on its timer (default true; tests drive `forecasts.update(now)` themselves). */
  forecasting?: boolean;
}

export interface App extends Pick<Graph, 'store' | 'recorder' | 'metrics' | 'gate' | 'forecasts'> {
  server: http.Server;
  /** Apply a reloaded config: one new snapshot (pricing, limits, admin token, alerts, forecast settings) and the budgets. */
  reload(next: Config): void;
  /** Resolves once the store connection is up (or after a short grace period when it is not). */
  ready(): Promise<void>;
  /** Wait until every record and budget settle in flight has been written or queued, and every alert they raised delivered or failed (tests). */
  flush(): Promise<void>;
  listen(): Promise<AddressInfo>;
  /** Stops accepting, waits for in-flight records to be written or journaled, closes the store. */
  close(): Promise<void>;
}

/** Composition root: the graph (compose/graph.ts) served over HTTP, with its lifetime. No globals. */
export function createApp(opts: AppOptions): App {
  const { config, logger } = opts;
  const g = buildGraph(opts);
  const { redis, recorder, settles, forecasts } = g;

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

  // Traffic must flow while Redis is down (records wait in the journal), so wait only briefly.
  const ready = async (): Promise<void> => {
    if (redis && redis.status !== 'ready') await Promise.race([once(redis, 'ready'), sleep(2_000)]);
  };

  return {
    server,
    store: g.store,
    recorder,
    metrics: g.metrics,
    gate: g.gate,
    forecasts,
    reload(next) {
      // One synchronous step: no request sees the new snapshot with the old budgets.
      const old = g.live.swap(buildSnapshot(next, { logger, clock: opts.clock }, g.metrics));
      g.reloadBudgets(next.budgets);
      void old.alerter.close();
    },
    ready,
    async flush() {
      await recorder.flush();
      await settles.flush();
      await g.live.current.alerter.flush();
    },
    async listen() {
      await ready();
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
      const closed = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      // Requests still waiting for budget headroom get their 429 now, not after max_wait_ms; the settle feed's connection closes.
      await g.gate.close();
      await closed;
      g.forwarder.close();
      await forecasts.stop();
      await settles.close();
      await recorder.close();
      await g.live.current.alerter.close();
      await g.store.close();
      await g.budgetStore.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
