/** The PaceBuckets contract: the shared pacing token bucket. Run by every adapter (see budget-store-fixtures.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PaceBuckets } from '../../src/budget/types.ts';
import { T0 } from './fixtures.ts';
import { storeSetup, type MakeStore } from './budget-store-fixtures.ts';

export function runPaceBucketsContract(name: string, make: MakeStore<PaceBuckets>): void {
  describe(`PaceBuckets contract: ${name}`, () => {
    const { setup } = storeSetup(make);

    test('pace: a shared token bucket that starts full, refills at the rate, and keeps a reserve from low priority', async (t) => {
      const s = await setup(t);
      // 10 pico/ms, capacity 1,000: ten requests of 100 fit at once, then one per 10 ms.
      for (let i = 0; i < 10; i++) assert.equal((await s.pace('b|*', 100, 10, 1_000, 0, T0)).ok, true, `burst ${i}`);
      assert.deepEqual(await s.pace('b|*', 100, 10, 1_000, 0, T0), { ok: false, waitMs: 10 });
      assert.deepEqual(await s.pace('b|*', 100, 10, 1_000, 0, T0 + 4), { ok: false, waitMs: 6 }, 'a refused call takes nothing');
      assert.equal((await s.pace('b|*', 100, 10, 1_000, 0, T0 + 10)).ok, true);
      // Low priority must leave a reserve of 500 behind: refused until the level exceeds 600.
      assert.deepEqual(await s.pace('b|*', 100, 10, 1_000, 500, T0 + 20), { ok: false, waitMs: 50 });
      assert.equal((await s.pace('b|*', 100, 10, 1_000, 500, T0 + 70)).ok, true);
      assert.equal((await s.pace('other', 100, 0, 100, 0, T0)).ok, true);
      assert.deepEqual(await s.pace('other', 100, 0, 100, 0, T0 + 1), { ok: false, waitMs: Number.POSITIVE_INFINITY }, 'rate 0: never');
    });
  });
}
