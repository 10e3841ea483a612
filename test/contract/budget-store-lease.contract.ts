/**
 * The lease part of the BudgetLedger contract (BudgetLedger.lease): a proxy's unused leased
 * headroom and what requests admitted from it hold, its grants within the limit, spend added
 * once per batch, recall and expiry. Run by every adapter (memory, Redis, a 3-master Cluster).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BudgetLedger, LeaseEntry } from '../../src/budget/types.ts';
import { RECALL_MS } from '../../src/budget/store/keys.ts';
import { T0 } from './fixtures.ts';
import { amt, ref, st, storeSetup, TTL, type MakeStore } from './budget-store-fixtures.ts';

const Z = amt(0);
const entry = (over: Partial<LeaseEntry> = {}): LeaseEntry => ({ ref: ref(), spent: Z, held: Z, keep: Z, want: Z, min: Z, ...over });
/** The unused part lives 2 s, what requests hold 60 s. */
const LIFE = { ttlMs: 2_000, heldTtlMs: 60_000 };

export function runBudgetLeaseContract(name: string, make: MakeStore<BudgetLedger>): void {
  describe(`BudgetLedger lease contract: ${name}`, () => {
    const { setup, rid } = storeSetup(make);

    test('a grant is at most 1/share of the headroom left, held as a reservation every reader sees', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      const a = rid();
      await s.admit([r], a, [amt(200)], T0, TTL);
      await s.settle([r], a, [amt(200)], T0);
      // 800 left: share 4 gives at most 200; asking 150 gets 150.
      const one = await s.lease('p1', 'b1', [entry({ ref: r, want: amt(150) })], 4, T0, LIFE);
      assert.deepEqual(one.grants[0]?.granted, amt(150));
      assert.deepEqual(one.grants[0]?.after, st(200, 150));
      assert.deepEqual(await s.state([r], T0 + 1), [st(200, 150)], 'unused leased headroom counts as reserved');
      // Another holder: (1000 - 200 - 150) / 4 = 162.5 → 162.
      const two = await s.lease('p2', 'b2', [entry({ ref: r, want: amt(10_000) })], 4, T0, LIFE);
      assert.deepEqual(two.grants[0]?.granted, amt(162));
      const exact = await s.admit([r], rid(), [amt(1_000 - 200 - 150 - 162 + 1)], T0, TTL);
      assert.equal(exact.admitted, false, 'a request that fits only headroom no lease holds is refused by the exact script');
    });

    test('held and kept are held whatever the limit; a grant below min is none; zero removes the lease', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 100 });
      const r1 = await s.lease('p1', 'b1', [entry({ ref: r, held: amt(300), want: amt(50), min: amt(5) })], 1, T0, LIFE);
      assert.deepEqual(r1.grants[0]?.granted, Z, 'nothing left after what requests in flight hold');
      assert.deepEqual(r1.grants[0]?.after, st(0, 300), 'in-flight estimates stay held even past the limit');
      const r2 = await s.lease('p1', 'b2', [entry({ ref: r, held: amt(60), want: amt(50), min: amt(41) })], 1, T0, LIFE);
      assert.deepEqual(r2.grants[0]?.granted, Z, '40 left is below the minimum of 41');
      const r3 = await s.lease('p1', 'b3', [entry({ ref: r, held: amt(60), want: amt(50), min: amt(40) })], 1, T0, LIFE);
      assert.deepEqual(r3.grants[0]?.granted, amt(40));
      assert.deepEqual(r3.grants[0]?.after, st(0, 100));
      const r4 = await s.lease('p1', 'b4', [entry({ ref: r, held: amt(20), keep: amt(40) })], 1, T0, LIFE);
      assert.deepEqual(r4.grants[0]?.kept, amt(40), 'a live unused part is kept');
      assert.deepEqual(r4.grants[0]?.after, st(0, 60));
      const r5 = await s.lease('p1', 'b5', [entry({ ref: r })], 1, T0, LIFE);
      assert.deepEqual(r5.grants[0]?.after, st(0, 0), 'a lease of zero is removed');
    });

    test('what requests hold outlives the unused part: a holder cut off keeps its requests in flight reserved', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      await s.lease('p1', 'b1', [entry({ ref: r, held: amt(300), want: amt(200) })], 1, T0, LIFE);
      assert.deepEqual(await s.state([r], T0 + 1), [st(0, 500)]);
      assert.deepEqual(await s.state([r], T0 + LIFE.ttlMs), [st(0, 300)], 'the unused part is gone after its short life');
      assert.deepEqual(await s.state([r], T0 + LIFE.heldTtlMs), [st(0, 0)], 'what requests held, after a request’s');
    });

    test('an unused part that expired is not held again whatever the limit: it is asked for within the limit', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      await s.lease('p1', 'b1', [entry({ ref: r, want: amt(400) })], 1, T0, LIFE);
      const later = T0 + LIFE.ttlMs + 1;
      // Meanwhile others spent all but 100.
      const a = rid();
      await s.admit([r], a, [amt(900)], later, TTL);
      await s.settle([r], a, [amt(900)], later);
      const back = await s.lease('p1', 'b2', [entry({ ref: r, keep: amt(400) })], 1, later, LIFE);
      assert.deepEqual(back.grants[0]?.kept, Z);
      assert.deepEqual(back.grants[0]?.granted, amt(100), 'only what the limit leaves');
      assert.deepEqual(back.grants[0]?.after, st(900, 100));
    });

    test('spend is added once per batch: a re-sent batch only sets the lease', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 10_000, limitTokens: 1_000 });
      const e = entry({ ref: r, spent: amt(70, 7), held: amt(30, 3), want: amt(100, 10) });
      const first = await s.lease('p1', 'batch-1', [e], 1, T0, LIFE);
      assert.equal(first.duplicate, false);
      assert.deepEqual(first.grants[0]?.granted, amt(100, 10));
      assert.deepEqual(first.grants[0]?.after, st(70, 130, 7, 13));
      const again = await s.lease('p1', 'batch-1', [{ ...e, want: Z, keep: amt(100, 10) }], 1, T0 + 10, LIFE);
      assert.equal(again.duplicate, true);
      assert.deepEqual(again.grants[0]?.after, st(70, 130, 7, 13), 'the spend is not added twice');
      const next = await s.lease('p1', 'batch-2', [entry({ ref: r, spent: amt(5, 1) })], 1, T0 + 20, LIFE);
      assert.deepEqual(next.grants[0]?.after, st(75, 0, 8, 0));
    });

    test('a request waiting for leased headroom recalls it: no grants until the recall ends', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      await s.lease('p1', 'b1', [entry({ ref: r, want: amt(900) })], 1, T0, LIFE);
      const blocked = await s.admit([r], rid(), [amt(500)], T0 + 1, TTL);
      assert.equal(blocked.admitted, false);
      assert.equal(blocked.fitsUnreserved, true);
      const sync = await s.lease('p1', 'b2', [entry({ ref: r, want: amt(900) })], 1, T0 + 2, LIFE);
      assert.equal(sync.grants[0]?.recalled, true);
      assert.deepEqual(sync.grants[0]?.granted, Z);
      assert.deepEqual(sync.grants[0]?.after, st(0, 0), 'the holder returned its unused part');
      assert.equal((await s.admit([r], rid(), [amt(500)], T0 + 3, TTL)).admitted, true);
      const later = await s.lease('p1', 'b3', [entry({ ref: r, want: amt(100) })], 1, T0 + 3 + RECALL_MS, LIFE);
      assert.equal(later.grants[0]?.recalled, false);
      assert.deepEqual(later.grants[0]?.granted, amt(100));
    });

    test('unlimited and shadow refs grant what is asked', async (t) => {
      const s = await setup(t);
      const open = ref({ budget: 'open', limitPico: null });
      const shadow = ref({ budget: 'shadow', limitPico: 10, enforce: false });
      const r = await s.lease('p1', 'b1', [entry({ ref: open, want: amt(5_000) }), entry({ ref: shadow, want: amt(5_000) })], 8, T0, LIFE);
      assert.deepEqual(
        r.grants.map((g) => g.granted),
        [amt(5_000), amt(5_000)],
      );
    });

    test('invalid lease calls are rejected', async (t) => {
      const s = await setup(t);
      await assert.rejects(s.lease('', 'b', [entry()], 1, T0, LIFE), RangeError);
      await assert.rejects(s.lease('p', '', [entry()], 1, T0, LIFE), RangeError);
      await assert.rejects(s.lease('p', 'b', [entry()], 0, T0, LIFE), RangeError);
      await assert.rejects(s.lease('p', 'b', [entry()], 1, T0, { ttlMs: 0, heldTtlMs: 1 }), RangeError);
      await assert.rejects(s.lease('p', 'b', [entry({ want: amt(-1) })], 1, T0, LIFE), RangeError);
      await assert.rejects(s.lease('p', 'b', [entry({ held: amt(0.5) })], 1, T0, LIFE), RangeError);
      await assert.rejects(s.lease('p', 'b', [entry(), entry()], 1, T0, LIFE), RangeError, 'duplicate refs');
      assert.deepEqual(await s.lease('p', 'b', [], 1, T0, LIFE), { grants: [], duplicate: false });
    });
  });
}
