/**
 * Budgets and forecasts wired together, once, for the proxy (graph.ts) and the simulator
 * (simulate/run.ts). The forecast service is built first and handed to the gate as its
 * pacing source; both read the same catalog, so a reload swaps the budget list for both.
 */
import type { Config } from '../config/types.ts';
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Pricer } from '../pricing/types.ts';
import type { ExchangeRates } from '../core/currency.ts';
import type { MeterStore } from '../store/types.ts';
import type { BudgetConfig, BudgetLedger, ForecastStore, PaceBuckets, SettleFeed } from '../budget/types.ts';
import { BudgetCatalog } from '../budget/catalog.ts';
import { BudgetGate, type GateEvents } from '../budget/gate.ts';
import { SettleQueue } from '../budget/settle-queue.ts';
import { ForecastService, type ForecastEvents } from '../forecast/service.ts';

export interface BudgetWiringOptions {
  budgets: readonly BudgetConfig[];
  /** The forecast settings as of now (a reload swaps the snapshot that holds them). */
  forecast: () => Config['forecast'];
  /** One adapter (MemoryBudgetStore, RedisBudgetStore) serves all three concerns. */
  store: BudgetLedger & PaceBuckets & ForecastStore;
  /** The metering store: the forecaster finds a spike's offender in it. */
  meter: Pick<MeterStore, 'query'>;
  /** A getter: pricing can be reloaded with the config. */
  pricer: () => Pricer;
  /** The live exchange rates (a getter, reloaded with the config): costs billed in one currency count on budgets in another. */
  rates: () => ExchangeRates;
  /** Time, and what the gate's waits, the settle retries and the forecast loop wait on. */
  clock: Timers;
  logger: Logger;
  gateEvents?: GateEvents;
  forecastEvents?: ForecastEvents;
  /** Settles on other proxies, waking requests that wait here (the Redis store's). */
  feed?: SettleFeed;
  /** Quota leasing: admit from headroom leased from a shared ledger (see budget/lease-book.ts). */
  leases?: boolean;
}

export interface BudgetWiring {
  catalog: BudgetCatalog;
  gate: BudgetGate;
  forecasts: ForecastService;
  /** Settles that run after the response, retried while the store is unreachable. */
  settles: SettleQueue;
  /** Config reload: the new budget list takes effect for the gate and the forecaster at once. */
  reload(budgets: readonly BudgetConfig[]): void;
}

export function wireBudgets(opts: BudgetWiringOptions): BudgetWiring {
  const { store, clock, logger } = opts;
  const catalog = new BudgetCatalog(opts.budgets, opts.pricer);
  const forecasts = new ForecastService({
    catalog,
    ledger: store,
    store,
    meter: opts.meter,
    clock,
    logger,
    config: opts.forecast,
    ...(opts.forecastEvents ? { events: opts.forecastEvents } : {}),
  });
  const gate = new BudgetGate({
    catalog,
    ledger: store,
    buckets: store,
    pacing: forecasts,
    pricer: opts.pricer,
    rates: opts.rates,
    clock,
    logger,
    ...(opts.gateEvents ? { events: opts.gateEvents } : {}),
    ...(opts.feed ? { feed: opts.feed } : {}),
    ...(opts.leases === true ? { leases: {} } : {}),
  });
  const settles = new SettleQueue({
    logger,
    clock,
    run: (p) => (p.discard === true ? gate.discard(p, p.id) : gate.settle(p, p.id, p.actual, p.counted)),
  });
  return {
    catalog,
    gate,
    forecasts,
    settles,
    reload(budgets) {
      catalog.setBudgets(budgets);
    },
  };
}
