/**
 * RedisBatchStore against real redis-server processes started here (never the shared :6379):
 * the BatchStore contract on a single node and on a 3-master Cluster (`peer` is a second
 * client: another proxy), then what only Redis has to prove: key layout, slots and lifetimes.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { batchKeySchema, RESULTS_LIFE_MS } from '../../src/store/batch-store.ts';
import { RedisBatchStore } from '../../src/store/redis-batch-store.ts';
import { origin, runBatchStoreContract } from '../contract/batch-store.contract.ts';
import { DAY, HOUR, T0 } from '../contract/fixtures.ts';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { connectCluster, connectRedis } from './connect.ts';

const server = await startRedis();
const cluster = await startRedisCluster();
after(() => Promise.all([server.close(), cluster.stop()]));

let prefixes = 0;
const freshPrefix = (): string => `bs${process.pid}-${++prefixes}`;

for (const [label, connect] of [
  ['single node', (): Promise<Redis | Cluster> => connectRedis(server.url)],
  ['3-master cluster', (): Promise<Redis | Cluster> => connectCluster(cluster.nodes)],
] as const) {
  runBatchStoreContract(`RedisBatchStore (${label})`, async () => {
    const prefix = freshPrefix();
    const stores = [new RedisBatchStore(await connect(), { prefix })];
    return {
      store: stores[0] as RedisBatchStore,
      async peer() {
        const s = new RedisBatchStore(await connect(), { prefix });
        stores.push(s);
        return s;
      },
      cleanup: async () => {
        await Promise.all(stores.map((s) => s.close()));
      },
    };
  });
}

test('RedisBatchStore keys: under the prefix, state and due in one slot, lifetimes from the caller’s now', async (t) => {
  const client = await connectRedis(server.url);
  const prefix = freshPrefix();
  const s = new RedisBatchStore(client, { prefix, ownsClient: false });
  t.after(async () => {
    await s.close();
    await client.quit();
  });
  // `now` is the caller's: a date long past on Redis' clock still gets a whole lifetime.
  const now = T0;
  await s.remember('msgbatch_1', origin({ createdAt: now, expiresAt: now + DAY }), now);
  await s.claim('msgbatch_1', ['a', 'b'], now + 2 * HOUR);
  await s.noteEnded('msgbatch_2', now + HOUR, now + 2 * HOUR);
  const k = batchKeySchema(prefix);
  assert.deepEqual((await client.keys(`{${prefix}:batch*`)).sort(), [
    `{${prefix}:batch:msgbatch_1}:c`,
    `{${prefix}:batch}:b:msgbatch_1`,
    `{${prefix}:batch}:b:msgbatch_2`,
    `{${prefix}:batch}:due`,
  ]);
  assert.deepEqual(await client.hgetall(k.state('msgbatch_1')), {
    o: JSON.stringify(origin({ createdAt: now, expiresAt: now + DAY })),
    h: '1',
  });
  assert.deepEqual((await client.smembers(k.claims('msgbatch_1'))).sort(), ['a', 'b']);
  const near = async (key: string, ms: number): Promise<void> => {
    const left = await client.pttl(key);
    assert.ok(Math.abs(left - ms) < 60_000, `${key}: ${left} ms left, expected ${ms}`);
  };
  await near(k.state('msgbatch_1'), DAY + RESULTS_LIFE_MS + DAY);
  await near(k.due, DAY + RESULTS_LIFE_MS + DAY);
  await near(k.claims('msgbatch_1'), RESULTS_LIFE_MS + DAY);
  await near(k.state('msgbatch_2'), RESULTS_LIFE_MS + DAY - HOUR);
  // A lifetime is extended, never shortened: an early `now` does not cut the claims' life.
  await s.claim('msgbatch_1', ['c'], now - 10 * DAY);
  await near(k.claims('msgbatch_1'), RESULTS_LIFE_MS + DAY);
  await s.claimedAll('msgbatch_1', now + 2 * HOUR);
  assert.equal(await client.scard(k.claims('msgbatch_1')), 1, 'the ids gave way to one marker');
  await near(k.claims('msgbatch_1'), RESULTS_LIFE_MS + DAY);
});

test('RedisBatchStore on a Cluster: claim sets spread over slots, state and due share one', async (t) => {
  const client = await connectCluster(cluster.nodes);
  t.after(() => client.quit());
  const k = batchKeySchema('cm');
  const slot = async (key: string): Promise<number> => Number(await client.cluster('KEYSLOT', key));
  assert.equal(await slot(k.state('msgbatch_a')), await slot(k.due));
  assert.equal(await slot(k.state('msgbatch_b')), await slot(k.due));
  const claimSlots = new Set(await Promise.all(Array.from({ length: 20 }, (_, i) => slot(k.claims(`msgbatch_${i}`)))));
  assert.ok(claimSlots.size > 10, `claim sets in ${claimSlots.size} slots`);
});

test('RedisBatchStore: a state whose key expired leaves due on the next dueHolds', async (t) => {
  const client = await connectRedis(server.url);
  const prefix = freshPrefix();
  const s = new RedisBatchStore(client, { prefix, ownsClient: false });
  t.after(async () => {
    await s.close();
    await client.quit();
  });
  await s.remember('msgbatch_x', origin(), T0);
  await s.remember('msgbatch_y', origin(), T0);
  const k = batchKeySchema(prefix);
  await client.del(k.state('msgbatch_x')); // as Redis would once its lifetime ended
  assert.deepEqual(
    (await s.dueHolds(T0 + DAY, 10)).map((d) => d.batchId),
    ['msgbatch_y'],
  );
  assert.deepEqual(await client.zrange(k.due, 0, -1), ['msgbatch_y']);
});
