/**
 * The BatchStore contract (src/store/batch-store.ts): a batch's origin, its custom_ids claimed
 * once across proxies, its hold settled once. Run by every adapter (memory, Redis, a 3-master
 * Cluster). Time is only the `now` argument; lifetimes (which Redis keeps on its own clock) are
 * checked per adapter, in the adapters' own tests.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BatchOrigin, type BatchStore, MAX_BATCH_REQUESTS, MAX_HOLD_JSON_CHARS } from '../../src/store/batch-store.ts';
import { DAY, HOUR, T0 } from './fixtures.ts';

/** One adapter under test; `peer` is another proxy's view of the same storage (memory: the same store). */
export interface BatchStoreHarness {
  store: BatchStore;
  peer(): Promise<BatchStore>;
  cleanup(): Promise<void>;
}
export type MakeBatchStore = () => Promise<BatchStoreHarness>;

const HOLD = { refs: [{ budget: 'monthly', instance: '*', window: '2025-01' }], amounts: [{ pico: 123_456_789, tokens: 0 }] };

export function origin(over: Partial<BatchOrigin> = {}): BatchOrigin {
  return { keyId: 'a1b2c3d4e5f60718', tag: 'nightly', upstream: 'default', createdAt: T0, expiresAt: T0 + DAY, hold: HOLD, ...over };
}

let seq = 0;
/** A fresh batch id per use: adapters share one Redis server between tests. */
const bid = (): string => `msgbatch_${process.pid}_${++seq}`;
const ids = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `req-${from + i}`);

export function runBatchStoreContract(name: string, make: MakeBatchStore): void {
  describe(`BatchStore contract: ${name}`, () => {
    async function setup(t: { after(fn: () => unknown): void }): Promise<BatchStoreHarness> {
      const h = await make();
      t.after(() => h.cleanup());
      return h;
    }

    test('addCounted adds what lines counted to a known batch, across calls; an unknown batch gets no state', async (t) => {
      const { store: s } = await setup(t);
      const b = bid();
      await s.addCounted(b, 5_000, T0);
      assert.equal(await s.info(b, T0), null, 'no state made for an unknown batch');
      await s.remember(b, origin(), T0);
      await s.addCounted(b, 5_000, T0 + 1);
      await s.addCounted(b, 2_500, T0 + 2);
      await s.addCounted(b, -7, T0 + 3);
      await s.addCounted(b, 0.5, T0 + 3);
      assert.equal((await s.info(b, T0 + 4))?.counted, 7_500, 'positive integers only, summed');
    });

    test('remember keeps the first origin; info is null for an unknown batch; the first ended_at sticks', async (t) => {
      const { store: s } = await setup(t);
      const b = bid();
      assert.equal(await s.info(b, T0), null);
      await s.remember(b, origin(), T0);
      await s.remember(b, origin({ keyId: 'ffffffffffffffff', hold: null }), T0 + 1);
      assert.deepEqual(await s.info(b, T0 + 2), { origin: origin(), endedAt: null, holdSettled: false, counted: 0 });
      await s.noteEnded(b, T0 + HOUR, T0 + HOUR);
      await s.noteEnded(b, T0 + 2 * HOUR, T0 + 2 * HOUR);
      assert.equal((await s.info(b, T0 + 3 * HOUR))?.endedAt, T0 + HOUR);
    });

    test('an end seen for a batch not created through the store is known without an origin', async (t) => {
      const { store: s } = await setup(t);
      const b = bid();
      await s.noteEnded(b, T0, T0 + 1);
      assert.deepEqual(await s.info(b, T0 + 2), { origin: null, endedAt: T0, holdSettled: false, counted: 0 });
      await s.remember(b, origin({ hold: null }), T0 + 3);
      assert.deepEqual(await s.info(b, T0 + 4), { origin: origin({ hold: null }), endedAt: T0, holdSettled: false, counted: 0 });
    });

    test('claim returns only the ids never claimed before, each once, in input order, across proxies', async (t) => {
      const h = await setup(t);
      const other = await h.peer();
      const b = bid();
      assert.deepEqual(await h.store.claim(b, ['c', 'a', 'c', 'b'], T0), { claimed: ['c', 'a', 'b'], ignored: 0 });
      assert.deepEqual(await other.claim(b, ['a', 'd', 'b', 'e'], T0 + DAY), { claimed: ['d', 'e'], ignored: 0 });
      assert.deepEqual(await h.store.claim(b, ['e', 'd', 'c', 'b', 'a'], T0 + 20 * DAY), { claimed: [], ignored: 0 });
      assert.deepEqual(await h.store.claim(bid(), ['a'], T0), { claimed: ['a'], ignored: 0 }, 'claims are per batch');
      assert.deepEqual(await h.store.claim(b, [], T0), { claimed: [], ignored: 0 });
    });

    test('ids that are not custom_ids are ignored and counted, never claimed', async (t) => {
      const { store: s } = await setup(t);
      const b = bid();
      const long = 'x'.repeat(65);
      const r = await s.claim(b, ['ok', '', long, 'y'.repeat(64), '*'.repeat(65), 7 as unknown as string], T0);
      assert.deepEqual(r, { claimed: ['ok', 'y'.repeat(64)], ignored: 4 });
      assert.deepEqual((await s.claim(b, [long], T0)).claimed, []);
    });

    test('two proxies claiming overlapping ids at once count each id exactly once', async (t) => {
      const h = await setup(t);
      const stores = [h.store, await h.peer(), await h.peer()];
      const b = bid();
      // Each of 30 calls asks for a window of 300 ids overlapping its neighbours'.
      const replies = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (stores[i % 3] as BatchStore).claim(b, ids(300, i * 100), T0 + i)),
      );
      const all = replies.flatMap((r) => r.claimed);
      assert.equal(all.length, new Set(all).size, 'no id claimed twice');
      assert.deepEqual(new Set(all), new Set(ids(29 * 100 + 300)));
    });

    test(`a batch claims at most ${MAX_BATCH_REQUESTS} ids: the rest are ignored, ids already claimed are not`, async (t) => {
      const { store: s } = await setup(t);
      const b = bid();
      const first = await s.claim(b, ids(MAX_BATCH_REQUESTS - 2), T0);
      assert.equal(first.claimed.length, MAX_BATCH_REQUESTS - 2);
      const past = await s.claim(b, ['req-0', ...ids(5, MAX_BATCH_REQUESTS)], T0);
      assert.deepEqual(past, { claimed: [`req-${MAX_BATCH_REQUESTS}`, `req-${MAX_BATCH_REQUESTS + 1}`], ignored: 3 });
      assert.deepEqual(await s.claim(b, ['req-1', `req-${MAX_BATCH_REQUESTS + 1}`], T0), { claimed: [], ignored: 0 });
    });

    test('claimedAll: every later claim for the batch, on any proxy, claims nothing', async (t) => {
      const h = await setup(t);
      const b = bid();
      await h.store.claim(b, ['a', 'b'], T0);
      await h.store.claimedAll(b, T0 + HOUR);
      const other = await h.peer();
      assert.deepEqual(await other.claim(b, ['a', 'c', ''], T0 + DAY), { claimed: [], ignored: 1 });
      assert.deepEqual((await h.store.claim(bid(), ['a'], T0)).claimed, ['a'], 'other batches are untouched');
    });

    test('settleHold is true once, for the first caller of all proxies, and only for a batch remembered with a hold', async (t) => {
      const h = await setup(t);
      const stores = [h.store, await h.peer(), await h.peer()];
      const b = bid();
      assert.equal(await h.store.settleHold(b, T0), false, 'unknown batch');
      await h.store.remember(b, origin(), T0);
      const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => (stores[i % 3] as BatchStore).settleHold(b, T0 + i)));
      assert.equal(replies.filter(Boolean).length, 1);
      assert.equal(await h.store.settleHold(b, T0 + DAY), false);
      assert.equal((await h.store.info(b, T0))?.holdSettled, true);
      const noHold = bid();
      await h.store.remember(noHold, origin({ hold: null }), T0);
      assert.equal(await h.store.settleHold(noHold, T0), false, 'nothing was held');
      const ended = bid();
      await h.store.noteEnded(ended, T0, T0);
      assert.equal(await h.store.settleHold(ended, T0), false, 'no origin, no hold');
    });

    test('dueHolds: unsettled holds whose batch expired, earliest first, up to the limit', async (t) => {
      const h = await setup(t);
      // Other tests share the storage: look far enough in the future that this test's batches are apart.
      const base = T0 + 1_000 * DAY + seq * 10 * DAY;
      const [early, late, settled, free, future] = [bid(), bid(), bid(), bid(), bid()];
      await h.store.remember(late, origin({ expiresAt: base + 2 * HOUR }), base);
      await h.store.remember(early, origin({ expiresAt: base + HOUR }), base);
      await h.store.remember(settled, origin({ expiresAt: base }), base);
      await h.store.remember(free, origin({ expiresAt: base, hold: null }), base);
      await h.store.remember(future, origin({ expiresAt: base + DAY }), base);
      await h.store.settleHold(settled, base);
      const mine = (d: { batchId: string }[]): string[] =>
        d.map((x) => x.batchId).filter((id) => [early, late, settled, free, future].includes(id));
      assert.deepEqual(mine(await h.store.dueHolds(base + HOUR - 1, 1_000)), []);
      assert.deepEqual(mine(await h.store.dueHolds(base + HOUR, 1_000)), [early]);
      const both = await (await h.peer()).dueHolds(base + 2 * HOUR, 1_000);
      assert.deepEqual(mine(both), [early, late]);
      assert.deepEqual(both.find((d) => d.batchId === late)?.origin, origin({ expiresAt: base + 2 * HOUR }));
      assert.equal(await h.store.settleHold(early, base + 3 * HOUR), true, 'the sweeper settles it');
      assert.deepEqual(mine(await h.store.dueHolds(base + 3 * HOUR, 1_000)), [late]);
      assert.deepEqual(await h.store.dueHolds(base + 3 * HOUR, 0), []);
    });

    test('bad input is refused before anything is stored', async (t) => {
      const { store: s } = await setup(t);
      for (const bad of ['', 'a:b', 'a}b', 'x'.repeat(129), 'msgbatch_é']) {
        await assert.rejects(s.claim(bad, ['a'], T0), RangeError, bad);
        await assert.rejects(s.remember(bad, origin(), T0), RangeError, bad);
        await assert.rejects(s.info(bad, T0), RangeError, bad);
      }
      const b = bid();
      await assert.rejects(s.remember(b, origin({ hold: { big: 'x'.repeat(MAX_HOLD_JSON_CHARS) } }), T0), RangeError);
      await assert.rejects(s.remember(b, origin({ keyId: 'k'.repeat(300) }), T0), RangeError);
      await assert.rejects(s.remember(b, origin({ expiresAt: Number.NaN }), T0), RangeError);
      await assert.rejects(s.claim(b, ['a'], -1), RangeError);
      assert.equal(await s.info(b, T0), null);
    });
  });
}
