/**
 * claude-meter as shipped: createApp with the default config (loadConfig with no file),
 * the Redis store, and a pino logger at LOG_LEVEL (default 'warn', so the per-request
 * info line is built but not written; see the report header).
 */
import pino from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/load.ts';
import { systemClock } from '../src/lib/clock.ts';
import { serveChild } from './lib/child-runtime.ts';
import { storeOps } from './lib/store-ops.ts';

const config = loadConfig({
  file: null,
  env: { PORT: '0', UPSTREAM_URL: process.env['UPSTREAM_URL'] ?? '', REDIS_URL: process.env['REDIS_URL'] ?? '' },
});
const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'warn', base: { service: 'claude-meter' } }, pino.destination({ fd: 2, sync: false }));
const app = createApp({ config, clock: systemClock, logger });

await serveChild(app.server, storeOps(app.store, app.recorder, app.store.kind));
