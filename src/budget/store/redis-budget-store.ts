/**
 * BudgetStore over Redis (single node or Cluster), shared by every proxy instance.
 * Key layout and why all of it sits in one hash slot: see keys.ts. The ledger's scripts and
 * their exactness rules are in redis-ledger-scripts.ts; pacing and the refit lock have one
 * script each (redis-pace-script.ts, redis-claim-script.ts).
 */
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_PREFIX } from '../../redis/prefix.ts';
import { quitClient } from '../../redis/client.ts';
import { HOUR_MS, hourStart } from '../../core/time.ts';
import {
  alertTtlSec,
  assertAmounts,
  assertLease,
  leaseId,
  assertId,
  assertNow,
  assertPicos,
  assertRefs,
  assertTtl,
  budgetKeySchema,
  type BudgetKeys,
} from './keys.ts';
import { defineLedgerScripts, leaseScriptArgs, ledgerScriptArgs, SETTLED_MARKER_TTL_MS, toStates } from './redis-ledger-scripts.ts';
import { definePaceScript, runPace } from './redis-pace-script.ts';
import { defineClaimScript, runClaim } from './redis-claim-script.ts';
import { defineDemandScript, runDemand } from './redis-demand-script.ts';
import type {
  AdmitResult,
  Amount,
  BudgetStore,
  DiscardResult,
  InstanceRef,
  InstanceState,
  LeaseEntry,
  LeaseResult,
  PaceResult,
  SettleResult,
} from '../types.ts';

export type BudgetRedisClient = Redis | Cluster;

export interface RedisBudgetStoreOptions {
  /** Key prefix; budget keys live under the hash tag `{<prefix>:budget}` (default `cm`). */
  prefix?: string;
  /** close() quits the client (default true, as RedisStore: the composition root hands it over). */
  ownsClient?: boolean;
}

export class RedisBudgetStore implements BudgetStore {
  readonly #client: BudgetRedisClient;
  readonly #keys: BudgetKeys;
  readonly #ownsClient: boolean;
  #closed = false;

  constructor(client: BudgetRedisClient, opts: RedisBudgetStoreOptions = {}) {
    this.#client = client;
    this.#keys = budgetKeySchema(opts.prefix ?? DEFAULT_PREFIX);
    this.#ownsClient = opts.ownsClient ?? true;
    defineLedgerScripts(client);
    definePaceScript(client);
    defineClaimScript(client);
    defineDemandScript(client);
  }

  async admit(
    refs: readonly InstanceRef[],
    id: string,
    amounts: readonly Amount[],
    now: number,
    reservationTtlMs: number,
  ): Promise<AdmitResult> {
    this.#check(refs, now);
    assertId(id);
    assertAmounts(amounts, refs, 'amounts');
    assertTtl(reservationTtlMs);
    if (refs.length === 0) return { admitted: true, refusedBy: -1, fitsUnreserved: true, states: [] };
    const [keys, args] = ledgerScriptArgs(this.#keys, refs, now, [String(now), id, String(now + reservationTtlMs)], amounts);
    args.push(this.#keys.wake);
    const reply = await this.#client.claudeMeterBudgetAdmit(keys.length, ...keys, ...args);
    return { admitted: reply[0] === 1, refusedBy: reply[1] ?? -1, fitsUnreserved: reply[2] === 1, states: toStates(reply, 3, refs.length) };
  }

  async settle(refs: readonly InstanceRef[], id: string, actual: readonly Amount[], now: number): Promise<SettleResult> {
    this.#check(refs, now);
    assertId(id);
    assertAmounts(actual, refs, 'actual');
    if (refs.length === 0) return { before: [], after: [], reservationFound: false, duplicate: false };
    const [keys, args] = ledgerScriptArgs(this.#keys, refs, now, [String(now), id, this.#keys.wake], actual);
    keys.push(this.#keys.settled(id));
    args.push(String(now + SETTLED_MARKER_TTL_MS));
    const reply = await this.#client.claudeMeterBudgetSettle(keys.length, ...keys, ...args);
    return {
      before: toStates(reply, 1, refs.length),
      after: toStates(reply, 1 + 4 * refs.length, refs.length),
      reservationFound: reply[0] === 1,
      duplicate: reply[0] === -1,
    };
  }

  async discard(refs: readonly InstanceRef[], id: string, now: number): Promise<DiscardResult> {
    this.#check(refs, now);
    assertId(id);
    if (refs.length === 0) return { dropped: [], after: [] };
    const [keys, args] = ledgerScriptArgs(this.#keys, refs, now, [String(now), id, this.#keys.wake], null);
    const reply = await this.#client.claudeMeterBudgetDiscard(keys.length, ...keys, ...args);
    // Per ref: the dropped flag, then its 4 state integers.
    return {
      dropped: refs.map((_, i) => reply[5 * i] === 1),
      after: refs.map((_, i) => toStates(reply, 5 * i + 1, 1)[0] as InstanceState),
    };
  }

  async lease(
    holder: string,
    batch: string,
    entries: readonly LeaseEntry[],
    share: number,
    now: number,
    ttl: { ttlMs: number; heldTtlMs: number },
  ): Promise<LeaseResult> {
    this.#assertOpen();
    assertNow(now);
    assertLease(holder, batch, entries, share, ttl, this.#keys);
    if (entries.length === 0) return { grants: [], duplicate: false };
    const [keys, args] = leaseScriptArgs(this.#keys, entries, now, [String(now), leaseId(holder), this.#keys.wake], {
      share,
      freeExpiry: now + ttl.ttlMs,
      heldExpiry: now + ttl.heldTtlMs,
      forgetAt: now + SETTLED_MARKER_TTL_MS,
      batch,
    });
    const reply = await this.#client.claudeMeterBudgetLease(keys.length, ...keys, ...args);
    // Per entry: granted pico, tokens, kept pico, tokens, recalled, then 4 state integers before and 4 after.
    const grants = entries.map((_, i) => {
      const o = 1 + 13 * i;
      return {
        granted: { pico: reply[o] ?? 0, tokens: reply[o + 1] ?? 0 },
        kept: { pico: reply[o + 2] ?? 0, tokens: reply[o + 3] ?? 0 },
        recalled: reply[o + 4] === 1,
        before: toStates(reply, o + 5, 1)[0] as InstanceState,
        after: toStates(reply, o + 9, 1)[0] as InstanceState,
      };
    });
    return { grants, duplicate: reply[0] === 1 };
  }

  async state(refs: readonly InstanceRef[], now: number): Promise<InstanceState[]> {
    this.#check(refs, now);
    if (refs.length === 0) return [];
    const [keys, args] = ledgerScriptArgs(this.#keys, refs, now, [String(now), '', '0'], null);
    return toStates(await this.#client.claudeMeterBudgetState(keys.length, ...keys, ...args), 0, refs.length);
  }

  async pace(bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number, now: number): Promise<PaceResult> {
    this.#assertOpen();
    return runPace(this.#client, this.#keys.paceBucket(bucket), cost, ratePerMs, capacity, reserve, now);
  }

  async claimRefit(key: string, ttlMs: number, now: number): Promise<boolean> {
    this.#assertOpen();
    return runClaim(this.#client, this.#keys.refitLock(key), ttlMs, now);
  }

  async claimIncident(key: string, ttlMs: number, now: number): Promise<boolean> {
    this.#assertOpen();
    return runClaim(this.#client, this.#keys.incidentClaim(key), ttlMs, now);
  }

  async putForecast(key: string, json: string, ttlMs: number): Promise<void> {
    this.#assertOpen();
    await this.#client.set(this.#keys.forecast(key), json, 'PX', ttlMs);
  }

  async getForecast(key: string): Promise<string | null> {
    this.#assertOpen();
    return this.#client.get(this.#keys.forecast(key));
  }

  async recordDemand(refs: readonly InstanceRef[], pico: readonly number[], now: number): Promise<void> {
    this.#check(refs, now);
    assertPicos(pico, refs);
    if (pico.every((p) => p === 0)) return;
    await runDemand(this.#client, this.#keys, refs, pico, now);
  }

  async hourlySpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    this.#assertOpen();
    const probe = this.#keys.instance(historyProbe(budget, instance));
    return fieldsInRange(await this.#client.hgetall(probe.hourly), from, to);
  }

  async minuteSpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    this.#assertOpen();
    const probe = this.#keys.instance(historyProbe(budget, instance));
    const hours: number[] = [];
    for (let h = hourStart(from); h < to; h += HOUR_MS) hours.push(h);
    const replies = await Promise.all(hours.map((h) => this.#client.hgetall(probe.minutes(h))));
    const out = new Map<number, number>();
    for (const r of replies) for (const [k, v] of fieldsInRange(r, from, to)) out.set(k, v);
    return out;
  }

  async instances(budget: string, windowId: string): Promise<string[]> {
    this.#assertOpen();
    // Members are the raw scope values (set members may hold any bytes): nothing to decode.
    return (await this.#client.smembers(this.#keys.instanceSet(budget, windowId))).sort();
  }

  async claimAlert(ref: InstanceRef, threshold: number): Promise<boolean> {
    this.#assertOpen();
    assertRefs([ref], this.#keys);
    if (!Number.isFinite(threshold)) throw new RangeError(`alert threshold must be finite, got ${threshold}`);
    const key = this.#keys.alert(ref, threshold);
    return (await this.#client.set(key, '1', 'EX', alertTtlSec(ref.window), 'NX')) === 'OK';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    await quitClient(this.#client);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisBudgetStore is closed');
  }

  #check(refs: readonly InstanceRef[], now: number): void {
    this.#assertOpen();
    assertNow(now);
    assertRefs(refs, this.#keys);
  }
}

/** History keys depend on neither the window nor the limits; placeholders satisfy the key builder. */
function historyProbe(budget: string, instance: string): InstanceRef {
  const window = { id: '-', start: 0, end: 0, segmentMs: 1, rollingMs: null };
  return { budget, instance, window, currency: 'USD', limitPico: null, limitTokens: null, enforce: false };
}

function fieldsInRange(h: Record<string, string>, from: number, to: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [k, v] of Object.entries(h)) {
    const t = Number(k);
    if (t >= from && t < to) out.set(t, Number(v));
  }
  return out;
}
