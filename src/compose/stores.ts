import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config/types.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MeterStore } from '../store/types.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { RedisStore } from '../store/redis-store.ts';
import { createRedisClient, createRedisCluster } from '../redis/client.ts';
import type { BudgetStore, SettleFeed } from '../budget/types.ts';
import { MemoryBudgetStore } from '../budget/store/memory-budget-store.ts';
import { RedisBudgetStore } from '../budget/store/redis-budget-store.ts';
import { RedisSettleFeed } from '../budget/store/redis-settle-feed.ts';
import type { BatchStore } from '../store/batch-store.ts';
import { MemoryBatchStore } from '../store/memory-batch-store.ts';
import { RedisBatchStore } from '../store/redis-batch-store.ts';
import { KeptBatchStore } from '../store/kept-batch-store.ts';

/** Whether the config names a Redis (a URL or cluster seeds); otherwise the stores are embedded, in memory. */
export function redisConfigured(config: Config): boolean {
  return config.store.redis.url !== null || config.store.redis.cluster_nodes.length > 0;
}

/** One connection (or cluster client) shared by the metering and budget stores; null: in-memory. */
export function buildRedis(config: Config, logger: Logger): Redis | Cluster | null {
  if (!redisConfigured(config)) return null;
  const { url, cluster_nodes: nodes } = config.store.redis;
  if (nodes.length > 0) {
    return createRedisCluster(
      nodes.map((n) => {
        const i = n.lastIndexOf(':');
        return { host: n.slice(0, i), port: Number(n.slice(i + 1)) };
      }),
      { logger },
    );
  }
  return url ? createRedisClient(url, { logger }) : null;
}

export function buildMeterStore(config: Config, clock: Clock, redis: Redis | Cluster | null): MeterStore {
  const bucketTtlSeconds = config.store.bucket_ttl_days * 86_400;
  if (redis === null) return new MemoryStore({ clock, bucketTtlSeconds, recordsMaxLen: 100_000 });
  return new RedisStore(redis, {
    prefix: config.store.redis.key_prefix,
    bucketTtlSeconds,
    recordsMaxLen: config.store.events_max_len,
    ownsClient: false,
  });
}

export function buildBudgetStore(config: Config, redis: Redis | Cluster | null): BudgetStore {
  return redis ? new RedisBudgetStore(redis, { prefix: config.store.redis.key_prefix, ownsClient: false }) : new MemoryBudgetStore();
}

/** What the proxies remember of Message Batches (docs/batches.md): shared in Redis (what it cannot take kept until it returns), else this process's. */
export function buildBatchStore(config: Config, redis: Redis | Cluster | null, logger: Logger): BatchStore {
  return redis
    ? new KeptBatchStore(new RedisBatchStore(redis, { prefix: config.store.redis.key_prefix, ownsClient: false }), logger)
    : new MemoryBatchStore();
}

/** Other proxies' settles wake this one's waiting requests; in memory there are no other proxies. */
export function buildSettleFeed(config: Config, redis: Redis | Cluster | null, logger: Logger): SettleFeed | undefined {
  return redis ? new RedisSettleFeed(redis, { prefix: config.store.redis.key_prefix, logger }) : undefined;
}
