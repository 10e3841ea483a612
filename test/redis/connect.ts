/** Clients for tests: the production fail-fast factory, awaited until ready (it queues nothing before). */
import { once } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import { createRedisClient, createRedisCluster } from '../../src/redis/client.ts';

/** Short reconnect backoff so a restarted server is picked up within ~50 ms. */
const FAST = { maxReconnectDelayMs: 50 } as const;

export async function connectRedis(url: string): Promise<Redis> {
  const client = createRedisClient(url, FAST);
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

export async function connectCluster(nodes: Array<{ host: string; port: number }>): Promise<Cluster> {
  const client = createRedisCluster(nodes, FAST);
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}
