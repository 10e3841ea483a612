/**
 * In-process BudgetStore for `store: memory` and tests. Same semantics as RedisBudgetStore
 * (both pass the test/contract/budget-store-*.contract.ts suites); every method does its work
 * synchronously before its first await, so each call is atomic within the process. This file
 * is the ledger; pacing buckets and the forecast history are MemoryPaceBuckets and
 * MemoryForecastStore, which it owns.
 *
 * Memory is bounded the way Redis bounds it: every instance, instance listing and alert
 * claim expires (keys.ts TTLs, refreshed on write), and expired entries are dropped on
 * access and by a sweep that runs at most once a minute of `now`.
 */
import {
  alertTtlSec,
  assertAmounts,
  assertId,
  assertNow,
  assertPicos,
  assertRefs,
  assertTtl,
  budgetKeySchema,
  assertLease,
  fits,
  instanceExpiresAt,
  leaseGrant,
  leaseHeldId,
  leaseId,
  RECALL_MS,
  segmentStart,
  type BudgetKeys,
} from './keys.ts';
import { MINUTE_MS } from '../../core/time.ts';
import { RecentIds } from '../../lib/recent-ids.ts';
import { MemoryForecastStore } from './memory-forecast-store.ts';
import { MemoryPaceBuckets } from './memory-pace-buckets.ts';
import type {
  PaceResult,
  AdmitResult,
  Amount,
  BudgetStore,
  DiscardResult,
  InstanceRef,
  InstanceState,
  LeaseEntry,
  LeaseResult,
  SettleResult,
} from '../types.ts';

const SWEEP_EVERY_MS = MINUTE_MS;

interface Reservation extends Amount {
  expiresAt: number;
}

interface Instance {
  expiresAt: number;
  /** Calendar windows: all spend. Rolling windows keep it in `segments` instead. */
  spent: Amount;
  reserved: Amount;
  /** Rolling windows: segment start (ms) → spend in that segment. */
  segments: Map<number, Amount>;
  reservations: Map<string, Reservation>;
  /** A request waits for headroom held in leases until then (ms): holders get no grant. */
  recallUntil: number;
}

interface Listing {
  expiresAt: number;
  members: Set<string>;
}

const SETTLED_IDS_MAX = 100_000;

export class MemoryBudgetStore implements BudgetStore {
  readonly #keys: BudgetKeys = budgetKeySchema('memory');
  readonly #instances = new Map<string, Instance>();
  readonly #listings = new Map<string, Listing>();
  /** Alert key → expiry (epoch ms). */
  readonly #alerts = new Map<string, number>();
  /** Latest `now` seen: instances() and claimAlert() take none but must not see expired entries. */
  #lastNow = 0;
  #nextSweep = 0;
  /** Settled ids, bounded FIFO: the same idempotency the Redis store keeps with a marker key. */
  readonly #settled = new RecentIds(SETTLED_IDS_MAX);
  readonly #buckets = new MemoryPaceBuckets();
  readonly #forecasts = new MemoryForecastStore();
  #closed = false;

  /** Entries held (instances + listings + alert claims); for tests of the memory bound. */
  get entryCount(): number {
    return this.#instances.size + this.#listings.size + this.#alerts.size;
  }

  async admit(
    refs: readonly InstanceRef[],
    id: string,
    amounts: readonly Amount[],
    now: number,
    reservationTtlMs: number,
  ): Promise<AdmitResult> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    assertId(id);
    assertAmounts(amounts, refs, 'amounts');
    assertTtl(reservationTtlMs);
    const insts = refs.map((ref) => this.#current(ref, now));
    const fitsWith = (ref: InstanceRef, s: InstanceState, amount: Amount, reserved: boolean): boolean =>
      fits(ref.limitPico, s.spentPico, reserved ? s.reservedPico : 0, amount.pico) &&
      fits(ref.limitTokens, s.spentTokens, reserved ? s.reservedTokens : 0, amount.tokens);
    let fitsUnreserved = true;
    const refusedBy = refs.findIndex((ref, i) => {
      if (!ref.enforce) return false;
      const s = this.#read(insts[i], ref, now);
      const amount = amounts[i] as Amount;
      if (fitsWith(ref, s, amount, true)) return false;
      fitsUnreserved = fitsWith(ref, s, amount, false);
      const inst = insts[i];
      if (fitsUnreserved && inst !== undefined) inst.recallUntil = now + RECALL_MS;
      return true;
    });
    if (refusedBy < 0) {
      refs.forEach((ref, i) => {
        const amount = amounts[i] as Amount;
        const inst = this.#materialize(ref, insts[i], now);
        release(inst, id); // a replayed admit replaces its reservation instead of adding a second one
        inst.reservations.set(id, { pico: amount.pico, tokens: amount.tokens, expiresAt: now + reservationTtlMs });
        inst.reserved.pico += amount.pico;
        inst.reserved.tokens += amount.tokens;
        this.#list(ref, now);
        insts[i] = inst;
      });
    }
    return { admitted: refusedBy < 0, refusedBy, fitsUnreserved, states: refs.map((ref, i) => this.#read(insts[i], ref, now)) };
  }

  async settle(refs: readonly InstanceRef[], id: string, actual: readonly Amount[], now: number): Promise<SettleResult> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    assertId(id);
    assertAmounts(actual, refs, 'actual');
    const before: InstanceState[] = [];
    const after: InstanceState[] = [];
    let reservationFound = false;
    if (this.#settled.has(id)) {
      const states = refs.map((ref) => this.#read(this.#current(ref, now), ref, now));
      return { before: states, after: states, reservationFound: false, duplicate: true };
    }
    this.#settled.add(id);
    for (const [i, ref] of refs.entries()) {
      const amount = actual[i] as Amount;
      const cur = this.#current(ref, now);
      before.push(this.#read(cur, ref, now));
      const inst = this.#materialize(ref, cur, now);
      if (release(inst, id)) reservationFound = true;
      this.#spend(inst, ref, amount, now);
      this.#list(ref, now);
      after.push(this.#read(inst, ref, now));
    }
    return { before, after, reservationFound, duplicate: false };
  }

  async lease(
    holder: string,
    batch: string,
    entries: readonly LeaseEntry[],
    share: number,
    now: number,
    ttl: { ttlMs: number; heldTtlMs: number },
  ): Promise<LeaseResult> {
    this.#begin(now);
    assertLease(holder, batch, entries, share, ttl, this.#keys);
    const duplicate = this.#settled.has(batch);
    if (!duplicate) this.#settled.add(batch);
    const [freeId, heldId] = [leaseId(holder), leaseHeldId(holder)];
    const grants = entries.map((e) => {
      const ref = e.ref;
      const cur = this.#current(ref, now);
      const before = this.#read(cur, ref, now);
      // An unused part that expired is not held again whatever the limit: it is asked for.
      const found = cur?.reservations.has(freeId) === true;
      const keep = found ? e.keep : { pico: 0, tokens: 0 };
      const want = found ? e.want : { pico: e.want.pico + e.keep.pico, tokens: e.want.tokens + e.keep.tokens };
      if (cur !== undefined) {
        release(cur, freeId);
        release(cur, heldId);
      }
      const spends = !duplicate && (e.spent.pico > 0 || e.spent.tokens > 0);
      const recalled = (cur?.recallUntil ?? 0) > now;
      const s = this.#read(cur, ref, now);
      const g = (limit: number | null, spent: number, reserved: number, k: number, w: number, min: number): number =>
        recalled ? 0 : leaseGrant(ref.enforce ? limit : null, spent, reserved, k, w, min, share);
      const granted = {
        pico: g(ref.limitPico, s.spentPico + (spends ? e.spent.pico : 0), s.reservedPico + e.held.pico, keep.pico, want.pico, e.min.pico),
        tokens: g(
          ref.limitTokens,
          s.spentTokens + (spends ? e.spent.tokens : 0),
          s.reservedTokens + e.held.tokens,
          keep.tokens,
          want.tokens,
          e.min.tokens,
        ),
      };
      const free = { pico: keep.pico + granted.pico, tokens: keep.tokens + granted.tokens };
      let inst = cur;
      const holds: [string, Amount, number][] = [
        [heldId, e.held, now + ttl.heldTtlMs],
        [freeId, free, now + ttl.ttlMs],
      ];
      if (spends || holds.some(([, a]) => a.pico > 0 || a.tokens > 0)) {
        inst = this.#materialize(ref, cur, now);
        if (spends) this.#spend(inst, ref, e.spent, now);
        for (const [id, a, expiresAt] of holds) {
          if (a.pico <= 0 && a.tokens <= 0) continue;
          inst.reservations.set(id, { ...a, expiresAt });
          add(inst.reserved, a);
        }
        this.#list(ref, now);
      }
      return { granted, kept: keep, recalled, before, after: this.#read(inst, ref, now) };
    });
    return { grants, duplicate };
  }

  /** Adds `amount` to the spend of `ref` at `now` (its segment, for a rolling window) and to the forecast history. */
  #spend(inst: Instance, ref: InstanceRef, amount: Amount, now: number): void {
    if (ref.window.rollingMs === null) {
      add(inst.spent, amount);
    } else {
      const start = segmentStart(now, ref.window.segmentMs);
      const segment = inst.segments.get(start) ?? { pico: 0, tokens: 0 };
      add(segment, amount);
      inst.segments.set(start, segment);
    }
    if (amount.pico > 0) this.#forecasts.add(ref, amount.pico, now);
  }

  async discard(refs: readonly InstanceRef[], id: string, now: number): Promise<DiscardResult> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    assertId(id);
    const dropped: boolean[] = [];
    const after: InstanceState[] = [];
    for (const ref of refs) {
      const inst = this.#current(ref, now);
      if (inst !== undefined) release(inst, id);
      const state = this.#read(inst, ref, now);
      const empty = isEmpty(state) && (inst === undefined || inst.reservations.size === 0);
      if (empty) this.#forget(ref);
      dropped.push(empty);
      after.push(state);
    }
    return { dropped, after };
  }

  async state(refs: readonly InstanceRef[], now: number): Promise<InstanceState[]> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    return refs.map((ref) => this.#read(this.#current(ref, now), ref, now));
  }

  async recordDemand(refs: readonly InstanceRef[], pico: readonly number[], now: number): Promise<void> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    assertPicos(pico, refs);
    refs.forEach((ref, i) => {
      const p = pico[i] as number;
      if (p > 0 && (this.#current(ref, now) !== undefined || this.#forecasts.knows(ref))) this.#forecasts.add(ref, p, now);
    });
  }

  async instances(budget: string, windowId: string): Promise<string[]> {
    this.#assertOpen();
    const listing = this.#listings.get(this.#keys.instanceSet(budget, windowId));
    if (listing === undefined || listing.expiresAt <= this.#lastNow) return [];
    return [...listing.members].sort();
  }

  async claimAlert(ref: InstanceRef, threshold: number): Promise<boolean> {
    this.#assertOpen();
    assertRefs([ref], this.#keys);
    if (!Number.isFinite(threshold)) throw new RangeError(`alert threshold must be finite, got ${threshold}`);
    const key = this.#keys.alert(ref, threshold);
    const expiresAt = this.#alerts.get(key);
    if (expiresAt !== undefined && expiresAt > this.#lastNow) return false;
    // Anchored at the window's end, which for a rolling window is the `now` it was computed at.
    this.#alerts.set(key, ref.window.end + alertTtlSec(ref.window) * 1000);
    return true;
  }

  pace(bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number, now: number): Promise<PaceResult> {
    return this.#buckets.pace(bucket, cost, ratePerMs, capacity, reserve, now);
  }

  hourlySpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return this.#forecasts.hourlySpend(budget, instance, from, to);
  }

  minuteSpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return this.#forecasts.minuteSpend(budget, instance, from, to);
  }

  claimRefit(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#forecasts.claimRefit(key, ttlMs, now);
  }

  claimIncident(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#forecasts.claimIncident(key, ttlMs, now);
  }

  putForecast(key: string, json: string, ttlMs: number, now: number): Promise<void> {
    return this.#forecasts.putForecast(key, json, ttlMs, now);
  }

  getForecast(key: string, now: number): Promise<string | null> {
    return this.#forecasts.getForecast(key, now);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryBudgetStore is closed');
  }

  #begin(now: number): void {
    this.#assertOpen();
    assertNow(now);
    if (now > this.#lastNow) this.#lastNow = now;
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + SWEEP_EVERY_MS;
    for (const [k, v] of this.#instances) if (v.expiresAt <= now) this.#instances.delete(k);
    for (const [k, v] of this.#listings) if (v.expiresAt <= now) this.#listings.delete(k);
    for (const [k, v] of this.#alerts) if (v <= now) this.#alerts.delete(k);
  }

  /** The live instance of `ref` with expired reservations and stale segments dropped, or undefined. */
  #current(ref: InstanceRef, now: number): Instance | undefined {
    const key = this.#keys.instance(ref).hash;
    const inst = this.#instances.get(key);
    if (inst === undefined) return undefined;
    if (inst.expiresAt <= now) {
      this.#instances.delete(key);
      return undefined;
    }
    for (const [rid, r] of inst.reservations) if (r.expiresAt <= now) release(inst, rid);
    const rolling = ref.window.rollingMs;
    if (rolling !== null) for (const start of inst.segments.keys()) if (start <= now - rolling) inst.segments.delete(start);
    return inst;
  }

  /** Creates the instance if needed and extends its life, as EXPIRE after a write does. */
  #materialize(ref: InstanceRef, inst: Instance | undefined, now: number): Instance {
    const out = inst ?? {
      expiresAt: 0,
      spent: { pico: 0, tokens: 0 },
      reserved: { pico: 0, tokens: 0 },
      segments: new Map<number, Amount>(),
      reservations: new Map<string, Reservation>(),
      recallUntil: 0,
    };
    out.expiresAt = instanceExpiresAt(ref.window, now);
    this.#instances.set(this.#keys.instance(ref).hash, out);
    return out;
  }

  #list(ref: InstanceRef, now: number): void {
    const key = this.#keys.instanceSet(ref.budget, ref.window.id);
    const listing = this.#listings.get(key);
    const expiresAt = instanceExpiresAt(ref.window, now);
    if (listing === undefined || listing.expiresAt <= now) {
      this.#listings.set(key, { expiresAt, members: new Set([ref.instance]) });
    } else {
      listing.members.add(ref.instance);
      listing.expiresAt = Math.max(listing.expiresAt, expiresAt);
    }
  }

  /** Deletes an instance and its listing entry (an empty listing goes too, as an empty Redis set does). */
  #forget(ref: InstanceRef): void {
    this.#instances.delete(this.#keys.instance(ref).hash);
    const key = this.#keys.instanceSet(ref.budget, ref.window.id);
    const listing = this.#listings.get(key);
    if (listing === undefined) return;
    listing.members.delete(ref.instance);
    if (listing.members.size === 0) this.#listings.delete(key);
  }

  /** State of a pruned instance (see #current). */
  #read(inst: Instance | undefined, ref: InstanceRef, now: number): InstanceState {
    if (inst === undefined) return { spentPico: 0, reservedPico: 0, spentTokens: 0, reservedTokens: 0 };
    let spent: Amount = inst.spent;
    const rolling = ref.window.rollingMs;
    if (rolling !== null) {
      spent = { pico: 0, tokens: 0 };
      for (const [start, segment] of inst.segments) if (start > now - rolling) add(spent, segment);
    }
    return { spentPico: spent.pico, reservedPico: inst.reserved.pico, spentTokens: spent.tokens, reservedTokens: inst.reserved.tokens };
  }
}

function isEmpty(s: InstanceState): boolean {
  return s.spentPico === 0 && s.reservedPico === 0 && s.spentTokens === 0 && s.reservedTokens === 0;
}

function add(into: Amount, a: Amount): void {
  into.pico += a.pico;
  into.tokens += a.tokens;
}

function release(inst: Instance, id: string): boolean {
  const r = inst.reservations.get(id);
  if (r === undefined) return false;
  inst.reservations.delete(id);
  inst.reserved.pico -= r.pico;
  inst.reserved.tokens -= r.tokens;
  return true;
}
