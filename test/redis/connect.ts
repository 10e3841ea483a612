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

/** Polls until `cond` holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
