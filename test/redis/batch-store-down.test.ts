/**
 * KeptBatchStore over a real Redis that is stopped and started again: a batch created while the
 * store is unreachable is kept and remembered once it returns, so its hold is found by the
 * sweeper at expiry (dueHolds) or by a results download (info), and the kept ones are bounded.
 * First the BatchStore contract through it, Redis up: it changes nothing while the store answers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import type { Logger } from '../../src/lib/logger.ts';
import { KeptBatchStore } from '../../src/store/kept-batch-store.ts';
import { RedisBatchStore } from '../../src/store/redis-batch-store.ts';
import { origin, runBatchStoreContract } from '../contract/batch-store.contract.ts';
import { DAY, T0 } from '../contract/fixtures.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { connectRedis } from './connect.ts';

const server = await startRedis();
after(() => server.close());

let prefixes = 0;
const freshPrefix = (): string => `kept${process.pid}-${++prefixes}`;

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (msg?: string) => void lines.push(msg ?? '');
  return { lines, info: (_, m) => keep(m), warn: (_, m) => keep(m), error: (_, m) => keep(m), debug: () => {} };
}

runBatchStoreContract('KeptBatchStore over Redis', async () => {
  const prefix = freshPrefix();
  const stores = [new KeptBatchStore(new RedisBatchStore(await connectRedis(server.url), { prefix }), memoryLogger())];
  return {
    store: stores[0] as KeptBatchStore,
    async peer() {
      const s = new KeptBatchStore(new RedisBatchStore(await connectRedis(server.url), { prefix }), memoryLogger());
      stores.push(s);
      return s;
    },
    cleanup: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
});

/** A store over a fresh prefix, its client, and a way to bring Redis back and wait until the client is ready. */
async function downAndBack(max?: number) {
  const client = await connectRedis(server.url);
  const logger = memoryLogger();
  const store = new KeptBatchStore(new RedisBatchStore(client, { prefix: freshPrefix() }), logger, max);
  return {
    store,
    logger,
    async stop() {
      await server.stop();
      if (client.status === 'ready') await once(client, 'close');
    },
    async back() {
      await server.restart();
      if (client.status !== 'ready') await once(client, 'ready');
    },
    close: () => store.close(),
  };
}

test('created while Redis is down: kept, then remembered when it returns, its hold due at expiry as if nothing happened', async (t) => {
  const s = await downAndBack();
  t.after(() => s.close());
  await s.stop();
  await s.store.remember('msgbatch_down_a', origin(), T0); // resolves: the create flows
  await s.store.remember('msgbatch_down_b', origin({ expiresAt: T0 + 2 * DAY }), T0 + 1);
  assert.equal(s.store.kept, 2);
  await assert.rejects(s.store.info('msgbatch_down_a', T0 + 2), 'the store is still down');
  assert.equal(s.store.kept, 2, 'nothing given while it is down');
  assert.ok(s.logger.lines.some((l) => /kept and remembered when it returns/.test(l)));

  await s.back();
  // A results download asks first: the kept ones are given to the store before it answers.
  const a = await s.store.info('msgbatch_down_a', T0 + 3);
  assert.deepEqual(a?.origin, origin());
  assert.equal(s.store.kept, 0);
  const due = await s.store.dueHolds(T0 + 2 * DAY, 10);
  assert.deepEqual(
    due.map((d) => d.batchId),
    ['msgbatch_down_a', 'msgbatch_down_b'],
  );
  assert.equal(await s.store.settleHold('msgbatch_down_a', T0 + 2 * DAY), true);
});

test('kept batches are bounded: past the bound the oldest is dropped, logged, and the rest remembered when Redis returns', async (t) => {
  const s = await downAndBack(2);
  t.after(() => s.close());
  await s.stop();
  for (const id of ['msgbatch_bound_1', 'msgbatch_bound_2', 'msgbatch_bound_3']) await s.store.remember(id, origin(), T0);
  assert.equal(s.store.kept, 2);
  assert.ok(s.logger.lines.some((l) => /dropped, its hold lapses/.test(l)));
  await s.back();
  assert.equal(await s.store.info('msgbatch_bound_1', T0 + 1), null, 'the oldest was dropped');
  assert.notEqual(await s.store.info('msgbatch_bound_2', T0 + 1), null);
  assert.notEqual(await s.store.info('msgbatch_bound_3', T0 + 1), null);
});
