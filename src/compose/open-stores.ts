/**
 * A deployment's stores, opened for a command that only reads them (report, forecast): one
 * Redis connection, the meter store and the budget store, with the budget catalog, pricer and
 * forecaster over them built as the proxy builds them; no server, forwarder, recorder or alerter.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/types.ts';
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MeterStore } from '../store/types.ts';
import type { BudgetStore } from '../budget/types.ts';
import { BudgetCatalog } from '../budget/catalog.ts';
import { buildPricer } from '../pricing/build.ts';
import type { Pricer } from '../pricing/types.ts';
import { ForecastService } from '../forecast/service.ts';
import { buildBudgetStore, buildMeterStore, buildRedis } from './stores.ts';

/** How long to wait for the connection before reading anyway (a down Redis then fails the read, with its reason). */
const CONNECT_GRACE_MS = 2_000;

export interface OpenedStores {
  meter: MeterStore;
  budgets: BudgetStore;
  pricer: Pricer;
  catalog: BudgetCatalog;
  /** Not started: a command runs `update(now)` once. */
  forecasts: ForecastService;
  close(): Promise<void>;
}

/** Resolves once connected, or after the grace period; rejects (closing everything) when the connection fails first. */
export async function openStores(config: Config, o: { clock: Timers; logger: Logger }): Promise<OpenedStores> {
  const redis = buildRedis(config, o.logger);
  const meter = buildMeterStore(config, o.clock, redis);
  const budgets = buildBudgetStore(config, redis);
  const pricer = buildPricer(config);
  const catalog = new BudgetCatalog(config.budgets, () => pricer);
  const forecasts = new ForecastService({
    catalog,
    ledger: budgets,
    store: budgets,
    meter,
    clock: o.clock,
    logger: o.logger,
    config: () => config.forecast,
  });
  const opened: OpenedStores = {
    meter,
    budgets,
    pricer,
    catalog,
    forecasts,
    async close() {
      await forecasts.stop();
      await meter.close();
      await budgets.close();
      if (redis !== null) await redis.quit().catch(() => redis.disconnect());
    },
  };
  if (redis === null || redis.status === 'ready') return opened;
  const waiting = new AbortController();
  try {
    await Promise.race([once(redis, 'ready', { signal: waiting.signal }), sleep(CONNECT_GRACE_MS, undefined, { signal: waiting.signal })]);
  } catch (err) {
    await opened.close();
    throw err;
  } finally {
    waiting.abort();
  }
  return opened;
}
