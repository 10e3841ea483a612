/**
 * The lease book against the memory ledger, one sync at a time on explicit instants: the
 * failure sequences an independent review found (a retried batch, an outage longer than a
 * lease's life, a recall with nothing in flight, a slow key's top-up), each kept as a test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { LeaseBook } from '../../../src/budget/lease-book.ts';
import { RECALL_MS } from '../../../src/budget/store/keys.ts';
import type { InstanceRef } from '../../../src/budget/types.ts';
import { budget } from '../../helpers/budget-config.ts';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
/** A unit: $0.001 in pico. */
const U = 1_000_000_000;
const T0 = Date.UTC(2026, 11, 7, 12);
const keyOf = (r: InstanceRef) => `${r.budget}\u0000${r.instance}\u0000${r.window.id}`;
const amt = (u: number) => ({ pico: u * U, tokens: 0 });

function setup(limitUnits: number) {
  const b = budget({ name: 'day', limit_usd: limitUnits / 1000 });
  const catalog = new BudgetCatalog([b], () => pricer);
  const ref = catalog.refsFor({ keyId: 'k', tag: '', model: 'claude-haiku-4-5', path: '/v1/messages', upstream: 'default' }, T0)
    .refs[0] as InstanceRef;
  const book = new LeaseBook('h', keyOf);
  book.eligible([ref], [b], [amt(1)], T0);
  return { b, ref, book, store: new MemoryBudgetStore() };
}

/** One sync of `book` at `now`; the ledger's answer applied. */
async function sync(store: MemoryBudgetStore, book: LeaseBook, now: number, drain = false) {
  const batch = book.plan(now, drain);
  if (batch === null) return null;
  const s = book.settings;
  const r = await store.lease('h', batch.id, batch.entries, s.share, batch.sentAt, { ttlMs: s.ttlMs, heldTtlMs: s.heldTtlMs });
  book.applied(batch, r.grants);
  return r;
}

test('a request that settles while its batch is being retried stays held until its own spend is added', async () => {
  const { b, ref, book, store } = setup(16);
  await sync(store, book, T0);
  assert.ok(book.take([ref], [b], [amt(1)], T0 + 10));
  assert.ok(book.plan(T0 + 1_600), 'a sync whose answer is lost (it never ran)');
  book.settle([ref], [amt(1)], [amt(1)]);
  assert.ok(await sync(store, book, T0 + 1_650), 'the retry');
  const other = await store.admit([ref], 'x', [amt(16)], T0 + 1_700, 600_000);
  assert.equal(other.admitted, false, 'the settled request’s 1u is still held: 16u more would pass the limit');
  await sync(store, book, T0 + 2_700);
  const [st] = await store.state([ref], T0 + 2_800);
  assert.equal(st?.spentPico, 1 * U, 'and its spend is added by the next batch, once');
});

test('after an outage longer than a lease’s life, its unused part is asked for again within the limit, not assumed', async () => {
  const { b, ref, book, store } = setup(16);
  await sync(store, book, T0);
  for (let t = T0 + 50; t < T0 + 5_000; t += 50) book.plan(t); // every sync fails
  assert.equal(book.take([ref], [b], [amt(1)], T0 + 5_000), false, 'lapsed locally');
  const o = await store.admit([ref], 'o', [amt(16)], T0 + 4_000, 600_000);
  assert.ok(o.admitted, 'others spent the whole limit meanwhile');
  await store.settle([ref], 'o', [amt(16)], T0 + 4_100);
  await sync(store, book, T0 + 5_000);
  const [st] = await store.state([ref], T0 + 5_010);
  assert.equal(st?.reservedPico, 0, 'nothing held past a spent limit');
  assert.equal(book.take([ref], [b], [amt(1)], T0 + 5_010), false);
});

test('a recall ends: leasing resumes once it has, with nothing in flight meanwhile', async () => {
  const { b, ref, book, store } = setup(1000);
  await sync(store, book, T0);
  assert.ok((await store.admit([ref], 'big', [amt(990)], T0 + 10, 600_000)).admitted);
  const w = await store.admit([ref], 'w', [amt(9)], T0 + 20, 600_000);
  assert.ok(!w.admitted && w.fitsUnreserved, 'a request waits for leased headroom');
  book.recall(keyOf(ref), T0 + 30);
  await sync(store, book, T0 + 30);
  await store.settle([ref], 'big', [amt(1)], T0 + 40);
  let leased = 0;
  for (let t = T0 + 100; t < T0 + 5_000; t += 50) {
    const ok = book.take([ref], [b], [amt(1)], t);
    if (ok) {
      assert.ok(t >= T0 + 30 + RECALL_MS, 'none while recalled');
      leased++;
      book.settle([ref], [amt(1)], [amt(1)]);
    } else book.note([ref], [b], [amt(1)], t);
    await sync(store, book, t);
  }
  assert.ok(leased > 0, 'leasing resumed after the recall');
});

test('a slow key’s top-up syncs only when the grant can be taken', async () => {
  const { b, ref, book, store } = setup(1_000_000);
  await sync(store, book, T0);
  let syncs = 0;
  for (let t = T0 + 50; t < T0 + 3_000; t += 50) {
    if (t === T0 + 100) {
      assert.ok(book.take([ref], [b], [amt(1.5)], t));
      book.settle([ref], [amt(1.5)], [amt(1.5)]);
    }
    if (await sync(store, book, t)) syncs++;
  }
  assert.ok(syncs < 10, `${syncs} lease calls in 3 s for one quiet instance`);
});

test('a reload that changes a limit takes nothing more from what the old limit granted', async () => {
  const { b, ref, book, store } = setup(1000);
  await sync(store, book, T0);
  assert.ok(book.take([ref], [b], [amt(1)], T0 + 10));
  const lowered = { ...ref, limitPico: 10 * U };
  assert.equal(book.take([lowered], [b], [amt(1)], T0 + 20), false);
  await sync(store, book, T0 + 1_100);
  const [st] = await store.state([ref], T0 + 1_200);
  assert.ok(
    (st?.reservedPico ?? 0) <= 1 * U + Math.ceil((10 * U) / 8),
    `what it holds fits the new limit: ${(st?.reservedPico ?? 0) / U}u`,
  );
});
