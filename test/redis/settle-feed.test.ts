/**
 * A settle on one connection wakes a listener on another, by the instance's key: single Redis
 * and 3-master Cluster. Pub/sub delivery is real time: the test waits (bounded) for what it
 * expects to hear, and relies on one channel delivering in publish order to show a silence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { RedisBudgetStore } from '../../src/budget/store/redis-budget-store.ts';
import { RedisSettleFeed } from '../../src/budget/store/redis-settle-feed.ts';
import { createRedisClient, createRedisCluster, type RedisClient } from '../../src/redis/client.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { ref, amt, TTL } from '../contract/budget-store-fixtures.ts';
import { T0 } from '../contract/fixtures.ts';
import { waitFor } from '../helpers/wait.ts';

async function ready(c: RedisClient): Promise<RedisClient> {
  if (c.status !== 'ready') await once(c, 'ready');
  return c;
}

async function wakes(make: () => RedisClient): Promise<void> {
  const store = new RedisBudgetStore(await ready(make()), { prefix: 'feed' });
  const listenerClient = await ready(make());
  const feed = new RedisSettleFeed(listenerClient, { prefix: 'feed', logger: silentLogger });
  const heard: string[] = [];
  feed.listen((key) => heard.push(key));
  const r = ref({ budget: 'wake-me', instance: 'k1' });
  const marker = ref({ budget: 'wake-me', instance: 'marker' });
  /** A settle that releases a reservation of the marker instance, then waits until it is heard. */
  const mark = async (id: string): Promise<void> => {
    const from = heard.length;
    await store.admit([marker], id, [amt(1)], T0, TTL);
    await store.settle([marker], id, [amt(1)], T0);
    await waitFor(`settle ${id} heard`, () => heard.slice(from).includes(feed.keyOf(marker)), 5_000);
  };
  try {
    // Subscribing is asynchronous: settle until one is heard.
    let i = 0;
    await waitFor(
      'the feed to hear a settle',
      async () => {
        await store.admit([r], `id${i}`, [amt(1)], T0, TTL);
        await store.settle([r], `id${i++}`, [amt(1)], T0);
        return heard.length > 0;
      },
      5_000,
    );
    assert.equal(heard[0], feed.keyOf(r));
    // A settle that releases nothing (no reservation held) wakes nobody: the next settle heard after it is the marker's.
    await mark('m1'); // everything published before it has been heard
    const from = heard.length;
    await store.settle([r], 'never-admitted', [amt(1)], T0);
    await mark('m2');
    assert.deepEqual(heard.slice(from), [feed.keyOf(marker)]);
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
