/** MemoryBatchStore: the BatchStore contract, plus its lifetimes (on the caller's `now`) and memory bounds. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BATCH_REQUESTS, RESULTS_LIFE_MS } from '../../../src/store/batch-store.ts';
import { MemoryBatchStore } from '../../../src/store/memory-batch-store.ts';
import { origin, runBatchStoreContract } from '../../contract/batch-store.contract.ts';
import { DAY, HOUR, MIN, T0 } from '../../contract/fixtures.ts';

runBatchStoreContract('MemoryBatchStore', async () => {
  const store = new MemoryBatchStore();
  return { store, peer: async () => store, cleanup: () => store.close() };
});

test('MemoryBatchStore forgets a batch once its results can no longer be downloaded (expiresAt + 29 days + 1 day)', async () => {
  const s = new MemoryBatchStore();
  await s.remember('b1', origin({ expiresAt: T0 + DAY }), T0);
  await s.claim('b1', ['a'], T0 + 2 * DAY);
  const gone = T0 + DAY + RESULTS_LIFE_MS + DAY;
  assert.notEqual(await s.info('b1', gone - 1), null);
  // The claims were made at T0 + 2 days: they live until then + 30 days, past the origin.
  assert.deepEqual((await s.claim('b1', ['a', 'b'], gone - 1)).claimed, ['b']);
  assert.equal(await s.info('b1', gone - 1 + RESULTS_LIFE_MS + DAY), null, 'every claim extends the life, the last one decides');
  assert.equal(s.batchCount, 0);
  assert.equal(s.idCount, 0);
});

test('MemoryBatchStore: an unsettled hold is due after expiry and gone with its batch', async () => {
  const s = new MemoryBatchStore();
  await s.remember('b1', origin({ expiresAt: T0 + DAY }), T0);
  assert.equal((await s.dueHolds(T0 + DAY, 10)).length, 1);
  assert.deepEqual(await s.dueHolds(T0 + DAY + RESULTS_LIFE_MS + DAY + MIN, 10), []);
  assert.equal(await s.settleHold('b1', T0 + DAY + RESULTS_LIFE_MS + DAY + MIN), false);
});

test('MemoryBatchStore holds at most maxIds ids: past it the batch used longest ago is dropped whole', async () => {
  const s = new MemoryBatchStore({ maxIds: 250 });
  for (let b = 0; b < 10; b++) {
    const r = await s.claim(
      `b${b}`,
      Array.from({ length: 100 }, (_, i) => `r${i}`),
      T0 + b * HOUR,
    );
    assert.equal(r.claimed.length, 100);
    assert.ok(s.idCount <= 250, `idCount ${s.idCount}`);
  }
  assert.equal(s.batchCount, 2, 'b8 and b9; the others were dropped to make room');
  assert.deepEqual((await s.claim('b9', ['r0'], T0)).claimed, []);
  assert.deepEqual((await s.claim('b0', ['r0'], T0)).claimed, ['r0'], 'a dropped batch is counted again: the documented cost');
  const one = new MemoryBatchStore({ maxIds: 3 });
  assert.deepEqual(
    await one.claim('b', ['a', 'b', 'c', 'd'], T0),
    { claimed: ['a', 'b', 'c'], ignored: 1 },
    'one batch alone past maxIds: the rest ignored',
  );
});

test('MemoryBatchStore holds at most maxBatches batches; claimedAll frees a batch’s ids', async () => {
  const s = new MemoryBatchStore({ maxBatches: 3 });
  for (let b = 0; b < 5; b++) await s.remember(`b${b}`, origin(), T0);
  assert.equal(s.batchCount, 3);
  assert.equal(await s.info('b0', T0), null);
  assert.notEqual(await s.info('b4', T0), null);
  await s.claim('b4', ['a', 'b'], T0);
  assert.equal(s.idCount, 2);
  await s.claimedAll('b4', T0);
  assert.equal(s.idCount, 0);
  assert.equal(MAX_BATCH_REQUESTS, 100_000);
});

test('batches only seen ended (a client paging the list) never evict a batch whose hold is unsettled', async () => {
  const store = new MemoryBatchStore({ maxBatches: 3 });
  const t0 = Date.parse('2026-12-07T10:00:00Z');
  const hold = { id: 'batch_x', refs: [], budgets: [], amounts: [], expected: { money: null, tokens: 0 } };
  await store.remember('msgbatch_held', { keyId: 'k', tag: '', upstream: 'default', createdAt: t0, expiresAt: t0 + 86_400_000, hold }, t0);
  for (let i = 0; i < 3; i++) await store.noteEnded(`msgbatch_old${i}`, t0 - 86_400_000, t0 + 1);
  const due = await store.dueHolds(t0 + 86_400_000, 10);
  assert.deepEqual(
    due.map((d) => d.batchId),
    ['msgbatch_held'],
    'a hold is never forgotten for room: the sweeper must still find it',
  );
});
