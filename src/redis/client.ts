/**
 * ioredis clients configured for a metering side path: when Redis is down, commands
 * must fail in milliseconds (the Recorder journals the record, the budget gate applies
 * on_store_error) instead of piling up in ioredis's offline queue, while the connection
 * keeps retrying in the background. The composition root creates one client, hands it to
 * the meter store and the budget store, and quits it on shutdown.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Timers } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';

/** A single-node or Cluster client: every store takes either. */
export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Connection errors go here at debug level (default: silent). */
  logger?: Logger;
  /** Give up on a TCP connect after this long (ms). */
  connectTimeoutMs?: number;
  /** Reject a command that has no reply after this long (ms): a hung server looks down, not slow. */
  commandTimeoutMs?: number;
  /** Upper bound of the reconnect backoff (ms). */
  maxReconnectDelayMs?: number;
}

const DEFAULTS = {
  connectTimeoutMs: 2_000, // 2 s
  commandTimeoutMs: 2_000, // 2 s
  maxReconnectDelayMs: 2_000, // 2 s
} as const;

/** Per-connection options shared by single-node and cluster clients. */
function connectionOptions(opts: RedisClientOptions): RedisOptions {
  return {
    // Reject in-flight commands as soon as the connection drops instead of re-sending
    // them after reconnect: the outcome is ambiguous either way, and the Recorder's
    // replay plus the store's dedupe set resolve it without double counting.
    maxRetriesPerRequest: 0,
    // Commands issued in one event-loop tick share one socket write: the budget store's
    // per-request scripts and the reads. The meter store's batch is one command already and
    // bypasses it (store/redis-store.ts).
    enableAutoPipelining: true,
    connectTimeout: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    commandTimeout: opts.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
  };
}

/** Capped exponential backoff; returning a number (never null) means "keep reconnecting forever". */
function backoff(opts: RedisClientOptions): (times: number) => number {
  const maxDelay = opts.maxReconnectDelayMs ?? DEFAULTS.maxReconnectDelayMs;
  return (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay);
}

/** Logs connection errors at debug: the Recorder reports outages once, not per retry. */
function quietErrors(client: RedisClient, logger: Logger = silentLogger): void {
  // Without an 'error' listener ioredis prints every reconnect failure to stderr.
  client.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis connection error'));
}

/** Single-node (or proxy) Redis from a `redis://` / `rediss://` URL. */
export function createRedisClient(url: string, opts: RedisClientOptions = {}): Redis {
  const client = new Redis(url, {
    ...connectionOptions(opts),
    // Never queue while disconnected: a queued write would hold the Recorder's slot
    // until reconnect and then land late; rejecting lets it journal the record now.
    enableOfflineQueue: false,
    retryStrategy: backoff(opts),
  });
  quietErrors(client, opts.logger);
  return client;
}

/** Redis Cluster from seed nodes, with the same fail-fast behaviour. */
export function createRedisCluster(nodes: ClusterNode[], opts: RedisClientOptions = {}): Cluster {
  const client = new Cluster(nodes, {
    enableOfflineQueue: false,
    redisOptions: connectionOptions(opts),
    clusterRetryStrategy: backoff(opts),
    // Long MOVED/CLUSTERDOWN retry loops would hide an outage; fail and let the journal hold it.
    maxRedirections: 4,
    retryDelayOnClusterDown: 100,
  });
  quietErrors(client, opts.logger);
  return client;
}

/** Closes a client we own: QUIT, or disconnect() when the connection is already down (same end state, no reconnect loop). */
export async function quitClient(client: RedisClient): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** How a client's first connection went: up, or not (yet), with the first error when there was one. */
export type FirstConnect = { up: true } | { up: false; err: string | null };

/**
 * Waits for the client's first connection: until it is ready, its first connection error, or
 * `graceMs`, whichever comes first. Never rejects: a client that cannot connect keeps
 * retrying in the background, and the caller serves without it meanwhile.
 */
export function firstConnect(client: RedisClient, timers: Timers, graceMs: number): Promise<FirstConnect> {
  if (client.status === 'ready') return Promise.resolve({ up: true });
  return new Promise((resolve) => {
    const done = (result: FirstConnect): void => {
      client.off('ready', onReady);
      client.off('error', onError);
      timers.clearTimeout(timer);
      resolve(result);
    };
    const onReady = (): void => done({ up: true });
    const onError = (err: Error): void => done({ up: false, err: err.message });
    client.once('ready', onReady);
    client.once('error', onError);
    const timer = timers.setTimeout(() => done({ up: false, err: null }), graceMs);
  });
}
