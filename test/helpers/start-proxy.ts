/** Builds a real claude-meter app on port 0 in front of an upstream, with teardown registered on `t`. */
import type { TestContext } from 'node:test';
import { createApp, type App } from '../../src/app.ts';
import { DEFAULTS, UPSTREAM_DEFAULTS } from '../../src/config/defaults.ts';
import type { Config, RoutedUpstreamConfig } from '../../src/config/types.ts';
import { systemClock, type Timers } from '../../src/lib/clock.ts';
import type { Logger } from '../../src/lib/logger.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import type { MeterStore } from '../../src/store/types.ts';
import type { BudgetStore } from '../../src/budget/types.ts';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

/** A routed upstream: the defaults, and what the test names. */
export function routed(
  o: Partial<RoutedUpstreamConfig> & Pick<RoutedUpstreamConfig, 'name' | 'url' | 'api' | 'route'>,
): RoutedUpstreamConfig {
  return { ...UPSTREAM_DEFAULTS, ...o };
}

export function testConfig(overrides: DeepPartial<Config>): Config {
  const merge = (base: unknown, over: unknown): unknown => {
    if (over === undefined) return base;
    if (
      typeof base !== 'object' ||
      base === null ||
      Array.isArray(base) ||
      typeof over !== 'object' ||
      over === null ||
      Array.isArray(over)
    )
      return over;
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = merge(out[k], v);
    return out;
  };
  return merge({ ...DEFAULTS, source: null, listen: { host: '127.0.0.1', port: 0 } }, overrides) as Config;
}

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** Logger that keeps every line, so tests can assert what was (and was not) logged. */
export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

export interface RunningProxy {
  app: App;
  url: string;
  config: Config;
}

export async function startProxy(
  t: TestContext | null,
  opts: {
    upstream: string;
    config?: DeepPartial<Config>;
    store?: MeterStore;
    budgetStore?: BudgetStore;
    clock?: Timers;
    logger?: Logger;
    /** false: no forecast timer; the test drives app.forecasts.update(now). */
    forecasting?: boolean;
  },
): Promise<RunningProxy> {
  const config = testConfig({ ...opts.config, upstream: { ...opts.config?.upstream, url: opts.upstream } });
  const app = createApp({
    config,
    clock: opts.clock ?? systemClock,
    logger: opts.logger ?? silentLogger,
    defaultMetrics: false,
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.budgetStore ? { budgetStore: opts.budgetStore } : {}),
    ...(opts.forecasting === undefined ? {} : { forecasting: opts.forecasting }),
  });
  const addr = await app.listen();
  const proxy = { app, url: `http://127.0.0.1:${addr.port}`, config };
  t?.after(() => app.close());
  return proxy;
}
