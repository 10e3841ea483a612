/**
 * claude-meter as shipped: createApp with the default config (loadConfig with no file), the
 * Redis store, and the logger main.ts builds, at the config's level (default `info`: one JSON
 * request line per request, through pino's async destination; see lib/logger.ts).
 *
 * Measurement knobs go through createApp's overrides, never through src/:
 *   BENCH_ENGINE=httpproxy3  the http-proxy-3 engine (bench/httpproxy3-forwarder-variant.ts), records under key prefix `cmv`
 *   BENCH_STUB=end           the exchange never ends (no price, record, settle, metrics, log): the cost of forwarding alone
 *   BENCH_STUB=store         records reach a store that discards them: the cost of everything but the Redis write
 *   REC_CONC, REC_LINGER, REC_BMAX  recorder concurrency, linger (ms) and batch size
 *   BENCH_CONFIG=FILE        a config file on top of the defaults, e.g. bench/budgets-two.yaml (two budgets every request fits)
 *   BENCH_KEY_PREFIX=P       the Redis key prefix, so two meters on one Redis keep their records apart
 */
import { forwarderOptions } from '../src/compose/upstreams.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/types.ts';
import { systemClock } from '../src/lib/clock.ts';
import type { ForwardHooks, Forwarder } from '../src/upstream/forward.ts';
import { PoolForwarder } from '../src/upstream/forward.ts';
import type { MeterStore } from '../src/store/types.ts';
import { HttpProxy3Forwarder } from './httpproxy3-forwarder-variant.ts';
import { serveChild } from './lib/child-runtime.ts';
import { benchLogger } from './lib/logger.ts';
import { storeOps } from './lib/store-ops.ts';

const env = process.env;
const loaded = loadConfig({
  file: env['BENCH_CONFIG'] ?? null,
  env: { PORT: '0', UPSTREAM_URL: env['UPSTREAM_URL'] ?? '', REDIS_URL: env['REDIS_URL'] ?? '' },
});
const engine = env['BENCH_ENGINE'] ?? 'undici';
const stub = env['BENCH_STUB'] ?? '';
const prefix = env['BENCH_KEY_PREFIX'] || (engine === 'httpproxy3' ? 'cmv' : null);
const config: Config = prefix ? { ...loaded, store: { ...loaded.store, redis: { ...loaded.store.redis, key_prefix: prefix } } } : loaded;
const { logger, log } = benchLogger(config.log.level);

const options = forwarderOptions(config.upstream);
let forwarder: Forwarder | undefined = engine === 'httpproxy3' ? new HttpProxy3Forwarder(options) : undefined;
if (stub === 'end') forwarder = withoutEnd(forwarder ?? new PoolForwarder(options));
const num = (k: string): number | undefined => (env[k] ? Number(env[k]) : undefined);
const recorder = Object.fromEntries(
  Object.entries({ concurrency: num('REC_CONC'), lingerMs: num('REC_LINGER'), batchMax: num('REC_BMAX') }).filter(
    ([, v]) => v !== undefined,
  ),
);

const app = createApp({ config, clock: systemClock, logger, recorder, ...(forwarder ? { forwarder } : {}) });
if (stub === 'store') discardWrites(app.store);

await serveChild(app.server, {
  ...storeOps(app.store, app.recorder, app.store.kind),
  // After every record write in flight: they belong to the requests' CPU. Leases are kept, as in
  // steady traffic (their syncs run on their own tick and count where they happen).
  cpu: async () => {
    await app.recorder.flush();
    return process.cpuUsage();
  },
  log: () => log,
  // Records, budget settles and alerts still in flight written (bench/soak.ts reads the budget keys after).
  flush: () => app.flush(),
});

/** Forwards as usual but never tells the exchange the response ended. */
function withoutEnd(inner: Forwarder): Forwarder {
  return {
    forward: (req, res, out, hooks) => {
      const h: ForwardHooks = {
        onResponseStart: (s, hd) => hooks.onResponseStart(s, hd),
        onData: (c) => hooks.onData(c),
        onEnd: () => {},
        onError: (e) => hooks.onError(e),
      };
      inner.forward(req, res, out, h);
    },
    close: () => inner.close(),
  };
}

/** The store acknowledges every batch without writing it. */
function discardWrites(store: MeterStore): void {
  store.writeBatch = async () => {};
}
