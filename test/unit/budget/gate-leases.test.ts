/**
 * Quota leasing in the gate, on the memory ledger and a ManualClock: requests admitted from a
 * lease make no ledger call, their spend reaches the ledger at the next sync, a request that
 * fits only headroom another holder leased waits while the lease is recalled, a dead holder's
 * lease expires, and shutdown returns every lease.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetGate, type Admission, type GateRequest } from '../../../src/budget/gate.ts';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import type { BudgetConfig, InstanceRef, LeaseResult } from '../../../src/budget/types.ts';
import { budget } from '../../helpers/budget-config.ts';
import { listBiller } from '../../../src/pricing/billing.ts';
import { LEASE_DEFAULTS } from '../../../src/budget/lease-book.ts';
import { Pacer } from '../../../src/budget/pacing/pacer.ts';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
let seq = 0;
const req = (keyId = 'k'): GateRequest => ({
  id: `r${++seq}`,
  keyId,
  tag: '',
  model: 'claude-haiku-4-5',
  path: '/v1/messages',
  upstream: 'default',
  biller: listBiller(pricer),
  bytes: 400,
  maxTokens: 100,
  betas: [],
});

/** The memory ledger, counting the calls a gate makes. */
class CountingStore extends MemoryBudgetStore {
  calls = { admit: 0, settle: 0, lease: 0, pace: 0 };
  override pace(...a: Parameters<MemoryBudgetStore['pace']>) {
    this.calls.pace++;
    return super.pace(...a);
  }
  down = false;
  override admit(...a: Parameters<MemoryBudgetStore['admit']>) {
    this.calls.admit++;
    if (this.down) return Promise.reject(new Error('down'));
    return super.admit(...a);
  }
  override settle(...a: Parameters<MemoryBudgetStore['settle']>) {
    this.calls.settle++;
    if (this.down) return Promise.reject(new Error('down'));
    return super.settle(...a);
  }
  override lease(...[holder, batch, entries, share, now, ttl]: Parameters<MemoryBudgetStore['lease']>): Promise<LeaseResult> {
    this.calls.lease++;
    if (this.down) return Promise.reject(new Error('down'));
    return super.lease(holder, batch, entries, share, now, ttl);
  }
}

function gateOn(store: CountingStore, clock: ManualClock, budgets: BudgetConfig[], holder: string): BudgetGate {
  return new BudgetGate({
    catalog: new BudgetCatalog(budgets, () => pricer),
    ledger: store,
    buckets: store,
    pricer: () => pricer,
    clock,
    logger: silentLogger,
    leases: { holder },
  });
}

const usd = (pico: number) => ({ money: { currency: 'USD', pico }, tokens: 100 });

async function admitted(p: Promise<Admission>): Promise<Extract<Admission, { kind: 'admitted' }>> {
  const a = await p;
  assert.equal(a.kind, 'admitted', JSON.stringify(a.kind === 'refused' ? a.refusal.cause : a.kind));
  return a as Extract<Admission, { kind: 'admitted' }>;
}

/** Warms a gate: requests admitted and settled for a simulated second, ticking the clock. */
async function warm(gate: BudgetGate, clock: ManualClock, n: number, pico: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = req();
    const a = await admitted(gate.admit(r));
    await gate.settle(a, r.id, usd(pico));
    await clock.advance(1_000 / n);
  }
}

test('while a budget has room, requests are admitted from the lease with no ledger call, and spend reaches the ledger at the next sync', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
  const store = new CountingStore();
  const b = budget({ name: 'day', limit_usd: 1_000 });
  const gate = gateOn(store, clock, [b], 'p1');
  await warm(gate, clock, 100, 1_000_000);
  await warm(gate, clock, 100, 1_000_000);
  const before = { ...store.calls };
  const n = 200;
  let leased = 0;
  for (let i = 0; i < n; i++) {
    const r = req();
    const a = await admitted(gate.admit(r));
    if (a.leased) leased++;
    await gate.settle(a, r.id, usd(1_000_000));
    if (i % 5 === 4) await clock.advance(50); // 100 requests a second, the rate it was warmed at
  }
  assert.equal(leased, n, 'every warm request came from the lease');
  assert.equal(store.calls.admit - before.admit, 0);
  assert.equal(store.calls.settle - before.settle, 0);
  assert.ok(store.calls.lease - before.lease <= 10, `one sync per tick: ${store.calls.lease - before.lease} syncs for ${n} requests`);
  await clock.advance(LEASE_DEFAULTS.syncEveryMs + 2 * LEASE_DEFAULTS.tickMs);
  const ref = gate.catalog.refsFor(req(), clock.now()).refs[0] as InstanceRef;
  const [st] = await store.state([ref], clock.now());
  assert.equal(st?.spentPico, (200 + n) * 1_000_000, 'every settled request’s spend is in the ledger, exactly once');
  await gate.close();
  await gate.closeLeases();
  const [after] = await store.state([ref], clock.now());
  assert.equal(after?.reservedPico, 0, 'shutdown returned the lease');
});

test('a request that fits only headroom another proxy leased waits while the lease is recalled, then is admitted', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
  const store = new CountingStore();
  const probe = gateOn(new CountingStore(), clock, [], 'probe');
  const one = probe.expected(req()).money?.pico ?? 0;
  // Room for about 400 requests: a warm proxy's lease takes a slice of it.
  const b = budget({ name: 'day', limit_usd: (400 * one) / 1e12, admission: { max_wait_ms: 5_000, max_queue: 16 } });
  const a = gateOn(store, clock, [b], 'A');
  const other = gateOn(store, clock, [b], 'B');
  await warm(a, clock, 100, Math.floor(one / 2));
  const ref = a.catalog.refsFor(req(), clock.now()).refs[0] as InstanceRef;
  const [s0] = await store.state([ref], clock.now());
  assert.ok(s0 !== undefined && s0.reservedPico > 0, 'A holds a lease');
  // B fills what no lease holds with one reservation it keeps in flight.
  const free = (b.limit_usd as number) * 1e12 - (s0.spentPico + s0.reservedPico);
  const hog = await store.admit([ref], 'hog', [{ pico: Math.max(0, free - Math.floor(one / 4)), tokens: 0 }], clock.now(), 60_000);
  assert.equal(hog.admitted, true);
  // B's next request fits the limit (A's lease is unused), not the reservations: it waits.
  let answer: Admission | null = null;
  void other.admit(req('b')).then((x) => (answer = x));
  await clock.advance(0);
  assert.equal(answer, null, 'it waits rather than being refused');
  // On one memory ledger there is no feed: A hears the recall in its next sync's answer (a renewal at the latest).
  const t0 = clock.now();
  for (let i = 0; i < 60 && answer === null; i++) await clock.advance(50);
  assert.ok(answer !== null, 'A returned its unused lease at its next syncs and B was admitted');
  assert.ok(clock.now() - t0 <= LEASE_DEFAULTS.ttlMs / 2 + 3 * LEASE_DEFAULTS.tickMs, `waited ${clock.now() - t0} ms`);
  assert.equal((answer as Admission).kind, 'admitted');
  await a.close();
  await a.closeLeases();
  await other.close();
  await other.closeLeases();
});

test('budget store down: leased admission lapses with the lease, settled spend is kept and added once when it returns', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
  const store = new CountingStore();
  const b = budget({ name: 'day', limit_usd: 1_000, on_store_error: 'allow' });
  const gate = gateOn(store, clock, [b], 'p1');
  await warm(gate, clock, 50, 1_000_000);
  const ref = gate.catalog.refsFor(req(), clock.now()).refs[0] as InstanceRef;
  store.down = true;
  const kinds: string[] = [];
  for (let i = 0; i < 60; i++) {
    const r = req();
    const a = await gate.admit(r);
    kinds.push(a.kind === 'admitted' ? (a.leased ? 'leased' : 'exact') : a.kind);
    if (a.kind === 'admitted' && a.leased) await gate.settle(a, r.id, usd(1_000_000));
    await clock.advance(100);
  }
  assert.ok(
    kinds.slice(0, 5).every((k) => k === 'leased'),
    `admitted from the lease at first: ${kinds.slice(0, 5)}`,
  );
  assert.ok(
    kinds.slice(-10).every((k) => k === 'store_error'),
    `then the lease lapsed and on_store_error applies: ${kinds.slice(-10)}`,
  );
  const leasedSpend = kinds.filter((k) => k === 'leased').length * 1_000_000;
  store.down = false;
  await clock.advance(LEASE_DEFAULTS.syncEveryMs + 2 * LEASE_DEFAULTS.tickMs);
  const [st] = await store.state([ref], clock.now());
  assert.equal(st?.spentPico, 50 * 1_000_000 + leasedSpend, 'nothing lost, nothing counted twice');
  await gate.close();
});

test('an instance that never saw spend here (a made-up key refused upstream) gets no lease and leaves no state', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
  const store = new CountingStore();
  const b = budget({ name: 'per-key', scope: 'per_key', limit_usd: 10 });
  const gate = gateOn(store, clock, [b], 'p1');
  for (let i = 0; i < 20; i++) {
    const r = req(`bad-${i}`);
    const a = await admitted(gate.admit(r));
    assert.equal(a.leased, false);
    await gate.discard(a, r.id);
    await clock.advance(60);
  }
  assert.deepEqual(await store.instances('per-key', (gate.catalog.refsFor(req(), clock.now()).refs[0] as InstanceRef).window.id), []);
  assert.equal(store.calls.lease, 0);
  await gate.close();
});

test('a paced budget is taken from the shared bucket in slices: fewer store calls, never more than the paced rate', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
  const store = new CountingStore();
  const probe = gateOn(new CountingStore(), clock, [], 'probe');
  const cost = probe.expected(req()).money?.pico ?? 0;
  const rate = cost / 10; // one request's cost accrues every 10 ms: 100 a second
  const b = budget({ name: 'paced', limit_usd: 1_000, action: 'throttle', throttle: { mode: 'reject', max_delay_ms: 0, burst_s: 1 } });
  const gate = new BudgetGate({
    catalog: new BudgetCatalog([b], () => pricer),
    ledger: store,
    buckets: store,
    pacing: { rate: () => rate, offenderRate: () => null },
    pricer: () => pricer,
    clock,
    logger: silentLogger,
    leases: { holder: 'p1' },
  });
  // Half the paced rate for 3 s (one request every 20 ms): slices of 25 requests' worth serve it.
  let ok = 0;
  for (let i = 0; i < 150; i++) {
    if ((await gate.admit(req())).kind === 'admitted') ok++;
    await clock.advance(20);
  }
  assert.equal(ok, 150, 'traffic within the paced rate is not throttled');
  assert.ok(store.calls.pace <= 150 / 10, `${store.calls.pace} bucket calls for 150 requests within the rate`);
  // Twice the paced rate for 3 s (one every 5 ms): the rate holds; refusals cost no call.
  const calls0 = store.calls.pace;
  const t0 = clock.now();
  ok = 0;
  for (let i = 0; i < 600; i++) {
    if ((await gate.admit(req())).kind === 'admitted') ok++;
    await clock.advance(5);
  }
  const accrued = (clock.now() - t0) / 10 + 100 + 25; // what accrued, a full bucket (burst_s 1) and a slice taken before
  assert.ok(ok <= accrued, `admitted ${ok} > ${accrued}`);
  assert.ok(ok >= 0.7 * ((clock.now() - t0) / 10), `admitted ${ok}: slices lapsing unspent cost little`);
  const calls = store.calls.pace - calls0;
  assert.ok(calls <= 1.2 * ok, `${calls} bucket calls for ${ok} admitted of 600`);
  await gate.close();
});

test('a shadow budget admitted from leases still reports the requests it would have refused', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
  const store = new CountingStore();
  const b = budget({ name: 'watch', limit_usd: 0.001, action: 'shadow' });
  let shadow = 0;
  const gate = new BudgetGate({
    catalog: new BudgetCatalog([b], () => pricer),
    ledger: store,
    buckets: store,
    pricer: () => pricer,
    clock,
    logger: silentLogger,
    leases: { holder: 'p1' },
    events: { onShadowRefused: () => shadow++ },
  });
  let leased = 0;
  for (let i = 0; i < 200; i++) {
    const r = req();
    const a = await admitted(gate.admit(r));
    if (a.leased) leased++;
    await gate.settle(a, r.id, usd(100_000_000));
    await clock.advance(20);
  }
  assert.ok(leased > 100, `${leased} from leases`);
  assert.ok(shadow >= 150, `${shadow} would-be refusals reported once spend passed the shadow limit`);
  await gate.close();
  await gate.closeLeases();
});

test('requests that miss a slice at once keep what is left of every slice they took', async () => {
  const burst = async (slices: boolean): Promise<number> => {
    const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
    const store = new MemoryBudgetStore();
    const b = budget({ name: 'paced', limit_usd: 1_000, action: 'throttle', throttle: { mode: 'reject', max_delay_ms: 0, burst_s: 1 } });
    const { refs, budgets } = new BudgetCatalog([b], () => pricer).refsFor(req(), clock.now());
    const pacer = new Pacer({ buckets: store, source: { rate: () => 1_000, offenderRate: () => null }, clock, slices });
    const amounts = [{ pico: 10_000, tokens: 0 }];
    const who = { keyId: 'k', tag: '' };
    const first = await Promise.all(Array.from({ length: 64 }, () => pacer.check(who, refs, budgets, amounts)));
    let ok = first.filter((x) => x === null).length;
    while (ok < 10_000 && (await pacer.check(who, refs, budgets, amounts)) === null) ok++;
    return ok;
  };
  const [exact, sliced] = [await burst(false), await burst(true)];
  assert.ok(sliced <= exact, `never more than the bucket holds: ${sliced} > ${exact}`);
  assert.ok(sliced >= exact - 25, `at most one slice (25 requests here) unspent: ${sliced} of ${exact}`);
});
