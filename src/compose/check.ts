/**
 * What `check-config` runs: the component graph `start` builds from a config (pricing table,
 * budget catalog, alerter, forecaster, forwarder, recorder), built with the same builders and
 * thrown away, without a Redis connection or a listening socket. A config that `start` would
 * refuse is refused here with the same error.
 */
import type { Config } from '../config/types.ts';
import { ConfigError } from '../config/errors.ts';
import { PricingError } from '../pricing/errors.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { buildGraph } from './graph.ts';

/** Builds and discards the graph; throws what building it throws (a refusal: see refusal()). */
export async function checkGraph(config: Config): Promise<void> {
  const g = buildGraph({ config, clock: systemClock, logger: silentLogger, defaultMetrics: false, connect: false });
  await g.gate.close();
  g.upstreams.close();
  await g.recorder.close();
  await g.live.current.alerter.close();
  await g.store.close();
  await g.budgetStore.close();
}

/**
 * The one-line message of an error that refuses a config (`file: config error at key: reason`,
 * `file: pricing error at key: reason`); null for anything else, a bug, which keeps its stack.
 */
export function refusal(err: unknown): string | null {
  return err instanceof ConfigError || err instanceof PricingError ? err.message : null;
}
