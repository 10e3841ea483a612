/**
 * The engine comparison: claude-meter's request pipeline on http-proxy-3 over node:http
 * (the engine it started with) instead of the shipped undici dispatch(). createApp builds
 * its Forwarder itself and src/ must not change for a bench, so this mirrors createApp's
 * composition (same pipeline, tap, pricer, metrics, budget gate with no budgets, Recorder
 * and RedisStore; key prefix `cmv` so its records are counted apart, same logger) and swaps
 * only the engine. Proxied routes only: no admin.
 */
import http from 'node:http';
import { loadConfig } from '../src/config/load.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createMetrics } from '../src/metrics/registry.ts';
import { buildPricer } from '../src/pricing/build.ts';
import { Recorder } from '../src/store/recorder.ts';
import { MemoryStore } from '../src/store/memory-store.ts';
import { RedisStore } from '../src/store/redis-store.ts';
import { createRedisClient } from '../src/store/redis-client.ts';
import { handleProxied, pipelineLimits, type PipelineDeps } from '../src/http/pipeline.ts';
import { BudgetGate } from '../src/budget/gate.ts';
import { BudgetCatalog } from '../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../src/budget/memory-budget-store.ts';
import { SettleQueue } from '../src/budget/settle-queue.ts';
import type { Forwarder } from '../src/upstream/forward.ts';
import { HttpProxy3Forwarder } from './httpproxy3-forwarder-variant.ts';
import { serveChild } from './lib/child-runtime.ts';
import { benchLogger } from './lib/logger.ts';
import { storeOps } from './lib/store-ops.ts';

const config = loadConfig({
  file: null,
  env: { PORT: '0', UPSTREAM_URL: process.env['UPSTREAM_URL'] ?? '', REDIS_URL: process.env['REDIS_URL'] ?? '' },
});
const { logger, log } = benchLogger(config.log.level);
const metrics = createMetrics({ keyLabel: config.metrics.key_label, tagLabel: config.metrics.tag_label, defaultMetrics: true });
// As createApp's buildStore: no Redis URL means the in-memory store (never a default localhost Redis).
const redisUrl = config.store.redis.url;
const store =
  redisUrl === null || redisUrl === ''
    ? new MemoryStore({ clock: systemClock, bucketTtlSeconds: config.store.bucket_ttl_days * 86_400, eventsMaxLen: 100_000 })
    : new RedisStore(createRedisClient(redisUrl), {
        prefix: 'cmv',
        bucketTtlSeconds: config.store.bucket_ttl_days * 86_400,
        eventsMaxLen: config.store.events_max_len,
      });
const recorder = new Recorder({
  store,
  logger,
  journalMaxRecords: config.store.journal_max_records,
  onEvent: (e) => metrics.storeEvents.inc({ event: e }),
});
const forwarder = new HttpProxy3Forwarder({
  url: config.upstream.url,
  apiKey: config.upstream.api_key,
  headersTimeoutMs: config.upstream.headers_timeout_ms,
  bodyTimeoutMs: config.upstream.body_timeout_ms,
  connectTimeoutMs: config.upstream.connect_timeout_ms,
  connections: config.upstream.connections,
});
const pricer = buildPricer(config);
// As createApp: the gate is always consulted; with no budgets configured it answers at once.
const budgetStore = new MemoryBudgetStore();
const gate: BudgetGate = new BudgetGate({
  catalog: new BudgetCatalog(config.budgets, () => pricer),
  ledger: budgetStore,
  buckets: budgetStore,
  pricer: () => pricer,
  clock: systemClock,
  logger,
});
const settles = new SettleQueue({ logger, run: (p) => gate.settle(p, p.id, p.actual) });
const deps: PipelineDeps = {
  clock: systemClock,
  // Forwarder has #private fields, so TypeScript treats it nominally; the pipeline only calls forward().
  forwarder: forwarder as unknown as Forwarder,
  pricer,
  metrics,
  logger,
  record: (r) => recorder.record(r),
  warnedModels: new Set(),
  limits: pipelineLimits(config),
  budgets: { gate, settles },
};
const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  handleProxied(deps, req, res).catch(() => res.destroy());
});
server.requestTimeout = 0;

await serveChild(server, { ...storeOps(store, recorder, store.kind), log: () => log });
