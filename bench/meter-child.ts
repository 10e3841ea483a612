/**
 * claude-meter as shipped: createApp with the default config (loadConfig with no file),
 * the Redis store, and the logger main.ts builds, at the config's level (default `info`:
 * one JSON request line per request, through pino's async destination; see lib/logger.ts).
 */
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/load.ts';
import { systemClock } from '../src/lib/clock.ts';
import { serveChild } from './lib/child-runtime.ts';
import { benchLogger } from './lib/logger.ts';
import { storeOps } from './lib/store-ops.ts';

const config = loadConfig({
  file: null,
  env: { PORT: '0', UPSTREAM_URL: process.env['UPSTREAM_URL'] ?? '', REDIS_URL: process.env['REDIS_URL'] ?? '' },
});
const { logger, log } = benchLogger(config.log.level);
const app = createApp({ config, clock: systemClock, logger });

await serveChild(app.server, { ...storeOps(app.store, app.recorder, app.store.kind), log: () => log });
