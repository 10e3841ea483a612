/** A settle on one connection wakes a listener on another, by the instance's key: single Redis and 3-master Cluster. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { RedisBudgetStore } from '../../src/budget/store/redis-budget-store.ts';
import { RedisSettleFeed } from '../../src/budget/store/redis-settle-feed.ts';
import { createRedisClient, createRedisCluster, type RedisClient } from '../../src/redis/client.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { ref, amt, TTL } from '../contract/budget-store-fixtures.ts';
import { T0 } from '../contract/fixtures.ts';

async function ready(c: RedisClient): Promise<RedisClient> {
  if (c.status !== 'ready') await once(c, 'ready');
  return c;
}

async function wakes(make: () => RedisClient): Promise<void> {
  const store = new RedisBudgetStore(await ready(make()), { prefix: 'feed' });
  const listenerClient = await ready(make());
  const feed = new RedisSettleFeed(listenerClient, { prefix: 'feed', logger: silentLogger });
  const heard = new EventEmitter();
  feed.listen((key) => heard.emit('key', key));
  const r = ref({ budget: 'wake-me', instance: 'k1' });
  try {
    // Subscribing is asynchronous: settle until one is heard.
    let got: string | undefined;
    for (let i = 0; i < 50 && got === undefined; i++) {
      await store.admit([r], `id${i}`, amt(1), T0, TTL);
      const next = once(heard, 'key');
      await store.settle([r], `id${i}`, amt(1), T0);
      got = (await Promise.race([next, new Promise((res) => setTimeout(res, 100))]) as [string] | undefined)?.[0];
    }
    assert.equal(got, feed.keyOf(r));
    // A settle that releases nothing (no reservation held) wakes nobody.
    const none = once(heard, 'key');
    await store.settle([r], 'never-admitted', amt(1), T0);
    assert.equal(await Promise.race([none.then(() => 'woken'), new Promise((res) => setTimeout(() => res('quiet'), 200))]), 'quiet');
  } finally {
    await feed.close();
    await store.close();
    await listenerClient.quit();
  }
}

test('single Redis: the settle script publishes, the feed hears it', async (t) => {
  const redis = await startRedis({ t });
  await wakes(() => createRedisClient(redis.url));
});

test('3-master Cluster: sharded publish on the budget slot reaches the feed', async (t) => {
  const cluster = await startRedisCluster({ t });
  await wakes(() => createRedisCluster(cluster.nodes));
});
