/**
 * In-process BudgetStore for `store: memory` and tests. Same semantics as RedisBudgetStore
 * (both pass test/contract/budget-store.contract.ts); every method does its work
 * synchronously before its first await, so each call is atomic within the process.
 *
 * Memory is bounded the way Redis bounds it: every instance, instance listing and alert
 * claim expires (keys.ts TTLs, refreshed on write), and expired entries are dropped on
 * access and by a sweep that runs at most once a minute of `now`.
 */
import {
  alertTtlSec,
  assertAmount,
  assertId,
  assertNow,
  assertRefs,
  assertTtl,
  budgetKeySchema,
  bucketStart,
  fits,
  instanceExpiresAt,
  type BudgetKeys,
  HOURLY_HISTORY_TTL_MS,
  MINUTE_HISTORY_TTL_MS,
} from './keys.ts';
import { paceStep, type BucketState } from './pace.ts';
import { RecentIds } from '../lib/recent-ids.ts';
import type { PaceResult, AdmitResult, Amount, BudgetStore, InstanceRef, InstanceState, SettleResult } from './types.ts';

const SWEEP_EVERY_MS = 60_000;

interface Reservation extends Amount {
  expiresAt: number;
}

interface Instance {
  expiresAt: number;
  /** Calendar windows: all spend. Rolling windows keep it in `buckets` instead. */
  spent: Amount;
  reserved: Amount;
  /** Rolling windows: bucket start (ms) → spend in that bucket. */
  buckets: Map<number, Amount>;
  reservations: Map<string, Reservation>;
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
  #closed = false;

  /** Entries held (instances + listings + alert claims); for tests of the memory bound. */
  get entryCount(): number {
    return this.#instances.size + this.#listings.size + this.#alerts.size;
  }

  async admit(refs: readonly InstanceRef[], id: string, amount: Amount, now: number, reservationTtlMs: number): Promise<AdmitResult> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    assertId(id);
    assertAmount(amount, 'amount');
    assertTtl(reservationTtlMs);
    const insts = refs.map((ref) => this.#current(ref, now));
    const deniedBy = refs.findIndex((ref, i) => {
      if (!ref.enforce) return false;
      const s = this.#read(insts[i], ref, now);
      return !(
        fits(ref.limitPico, s.spentPico, s.reservedPico, amount.pico) &&
        fits(ref.limitTokens, s.spentTokens, s.reservedTokens, amount.tokens)
      );
    });
    if (deniedBy < 0) {
      refs.forEach((ref, i) => {
        const inst = this.#materialize(ref, insts[i], now);
        release(inst, id); // a replayed admit replaces its reservation instead of adding a second one
        inst.reservations.set(id, { pico: amount.pico, tokens: amount.tokens, expiresAt: now + reservationTtlMs });
        inst.reserved.pico += amount.pico;
        inst.reserved.tokens += amount.tokens;
        this.#list(ref, now);
        insts[i] = inst;
      });
    }
    return { admitted: deniedBy < 0, deniedBy, states: refs.map((ref, i) => this.#read(insts[i], ref, now)) };
  }

  async settle(refs: readonly InstanceRef[], id: string, actual: Amount, now: number): Promise<SettleResult> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    assertId(id);
    assertAmount(actual, 'actual');
    const before: InstanceState[] = [];
    const after: InstanceState[] = [];
    let reservationFound = false;
    if (this.#settled.has(id)) {
      const states = refs.map((ref) => this.#read(this.#current(ref, now), ref, now));
      return { before: states, after: states, reservationFound: false, duplicate: true };
    }
    this.#rememberSettled(id);
    for (const ref of refs) {
      const cur = this.#current(ref, now);
      before.push(this.#read(cur, ref, now));
      const inst = this.#materialize(ref, cur, now);
      if (release(inst, id)) reservationFound = true;
      if (ref.window.rollingMs === null) {
        add(inst.spent, actual);
      } else {
        const start = bucketStart(now, ref.window.bucketMs);
        const bucket = inst.buckets.get(start) ?? { pico: 0, tokens: 0 };
        add(bucket, actual);
        inst.buckets.set(start, bucket);
      }
      this.#list(ref, now);
      if (actual.pico > 0) this.#recordHistory(ref, actual.pico, now);
      after.push(this.#read(inst, ref, now));
    }
    return { before, after, reservationFound, duplicate: false };
  }

  async state(refs: readonly InstanceRef[], now: number): Promise<InstanceState[]> {
    this.#begin(now);
    assertRefs(refs, this.#keys);
    return refs.map((ref) => this.#read(this.#current(ref, now), ref, now));
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

  /** The live instance of `ref` with expired reservations and stale buckets dropped, or undefined. */
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
    if (rolling !== null) for (const start of inst.buckets.keys()) if (start <= now - rolling) inst.buckets.delete(start);
    return inst;
  }

  /** Creates the instance if needed and extends its life, as EXPIRE after a write does. */
  #materialize(ref: InstanceRef, inst: Instance | undefined, now: number): Instance {
    const out = inst ?? {
      expiresAt: 0,
      spent: { pico: 0, tokens: 0 },
      reserved: { pico: 0, tokens: 0 },
      buckets: new Map<number, Amount>(),
      reservations: new Map<string, Reservation>(),
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

  /** State of a pruned instance (see #current). */
  #read(inst: Instance | undefined, ref: InstanceRef, now: number): InstanceState {
    if (inst === undefined) return { spentPico: 0, reservedPico: 0, spentTokens: 0, reservedTokens: 0 };
    let spent: Amount = inst.spent;
    const rolling = ref.window.rollingMs;
    if (rolling !== null) {
      spent = { pico: 0, tokens: 0 };
      for (const [start, b] of inst.buckets) if (start > now - rolling) add(spent, b);
    }
    return { spentPico: spent.pico, reservedPico: inst.reserved.pico, spentTokens: spent.tokens, reservedTokens: inst.reserved.tokens };
  }

  /** (budget, instance) → hour start → pico, and minute start → pico; pruned by age. */
  readonly #hourly = new Map<string, Map<number, number>>();
  readonly #minutes = new Map<string, Map<number, number>>();

  #recordHistory(ref: InstanceRef, pico: number, now: number): void {
    const k = `${ref.budget}\u0000${ref.instance}`;
    bump(this.#hourly, k, now - (now % 3_600_000), pico, now - HOURLY_HISTORY_TTL_MS);
    bump(this.#minutes, k, now - (now % 60_000), pico, now - MINUTE_HISTORY_TTL_MS);
  }

  readonly #buckets = new Map<string, BucketState>();
  /** Refit locks and forecast documents: key → { value, expiresAt }. */
  readonly #docs = new Map<string, { value: string; expiresAt: number }>();

  async claimRefit(key: string, ttlMs: number, now: number): Promise<boolean> {
    const k = `lock:${key}`;
    const cur = this.#docs.get(k);
    if (cur && cur.expiresAt > now) return false;
    this.#docs.set(k, { value: '1', expiresAt: now + ttlMs });
    return true;
  }

  async putForecast(key: string, json: string, ttlMs: number, now: number): Promise<void> {
    this.#docs.set(`fc:${key}`, { value: json, expiresAt: now + ttlMs });
  }

  async getForecast(key: string, now: number): Promise<string | null> {
    const cur = this.#docs.get(`fc:${key}`);
    return cur && cur.expiresAt > now ? cur.value : null;
  }

  async pace(bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number, now: number): Promise<PaceResult> {
    const step = paceStep(this.#buckets.get(bucket) ?? null, cost, ratePerMs, capacity, reserve, now);
    this.#buckets.set(bucket, step.state);
    return step.result;
  }

  async recordDemand(refs: readonly InstanceRef[], pico: number, now: number): Promise<void> {
    if (pico <= 0) return;
    for (const ref of refs) this.#recordHistory(ref, pico, now);
  }

  async hourlySpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return inRange(this.#hourly.get(`${budget}\u0000${instance}`), from, to);
  }

  async minuteSpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return inRange(this.#minutes.get(`${budget}\u0000${instance}`), from, to);
  }

  #rememberSettled(id: string): void {
    this.#settled.add(id);
  }
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

function bump(series: Map<string, Map<number, number>>, key: string, at: number, pico: number, oldest: number): void {
  let m = series.get(key);
  if (m === undefined) {
    m = new Map();
    series.set(key, m);
  }
  m.set(at, (m.get(at) ?? 0) + pico);
  // Entries are appended in time order: drop expired ones from the front.
  for (const t of m.keys()) {
    if (t >= oldest) break;
    m.delete(t);
  }
}

function inRange(m: Map<number, number> | undefined, from: number, to: number): Map<number, number> {
  const out = new Map<number, number>();
  if (m) for (const [t, v] of m) if (t >= from && t < to) out.set(t, v);
  return out;
}
