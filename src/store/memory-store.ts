/**
 * In-process MeterStore for tests and `store: memory`. It mirrors RedisStore's layout
 * (hour hashes of `minute|counter|value` buckets, a capped record log, dedupe by id) using
 * the same keys.ts/buckets.ts functions, so both pass one contract suite. Expiry follows
 * Redis EXPIRE semantics: an hour hash lives `bucketTtlSeconds` after its last write.
 */
import { MINUTE_MS } from '../core/time.ts';
import type { Clock } from '../lib/clock.ts';
import { assertValidRecord, recordDeltas, RowBuilder } from './buckets.ts';
import { Fifo } from './fifo.ts';
import {
  assertKeyHint,
  bucketField,
  DEFAULT_DEDUPE_TTL_SECONDS,
  dimensionValue,
  DIMENSIONS,
  fieldMinute,
  hourStartSec,
  hourStartsInRange,
  keySchema,
  MAX_KEY_HINTS,
  minuteOfHour,
  parseBucketField,
  type KeySchema,
} from './keys.ts';
import type { MeterStore, RequestRecord, StoreHealth, UsageQuery, UsageRow } from './types.ts';

export const DEFAULT_DEDUPE_MAX_IDS = 100_000;
const SWEEP_EVERY_MS = MINUTE_MS;

export interface MemoryStoreOptions {
  clock: Clock;
  bucketTtlSeconds: number;
  recordsMaxLen: number;
  /** How long a written id is remembered, so a replay within it is not counted twice. */
  dedupeTtlSeconds?: number;
  /** Hard cap on remembered ids, whatever their age (memory bound). */
  dedupeMaxIds?: number;
}

interface Hash {
  expiresAt: number;
  fields: Map<string, bigint>;
}

export class MemoryStore implements MeterStore {
  readonly kind = 'memory' as const;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #recordsMaxLen: number;
  readonly #dedupeTtlMs: number;
  readonly #dedupeMaxIds: number;
  readonly #keys: KeySchema = keySchema();
  readonly #hashes = new Map<string, Hash>();
  readonly #records: Fifo<RequestRecord>;
  /** id → expiry; Map keeps insertion (= write) order, so the oldest ids are first. */
  readonly #seen = new Map<string, number>();
  readonly #seenRing: (string | undefined)[];
  readonly #keyHints = new Map<string, string>();
  #seenHead = 0;
  #nextSweep = 0;
  #closed = false;

  constructor(opts: MemoryStoreOptions) {
    for (const [k, v] of Object.entries(opts)) {
      if (typeof v === 'number' && !(Number.isSafeInteger(v) && v > 0)) {
        throw new RangeError(`MemoryStore option ${k} must be a positive integer, got ${v}`);
      }
    }
    this.#clock = opts.clock;
    this.#ttlMs = opts.bucketTtlSeconds * 1000;
    this.#recordsMaxLen = opts.recordsMaxLen;
    this.#dedupeTtlMs = (opts.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS) * 1000;
    this.#dedupeMaxIds = opts.dedupeMaxIds ?? DEFAULT_DEDUPE_MAX_IDS;
    this.#seenRing = new Array<string | undefined>(this.#dedupeMaxIds);
    this.#records = new Fifo(opts.recordsMaxLen);
  }

  async write(r: RequestRecord): Promise<void> {
    return this.writeBatch([r]);
  }

  async writeBatch(records: readonly RequestRecord[]): Promise<void> {
    this.#assertOpen();
    for (const r of records) assertValidRecord(r); // all or nothing, as in Redis
    for (const r of records) this.#apply(r);
  }

  #apply(r: RequestRecord): void {
    const now = this.#clock.now();
    this.#sweep(now);
    const seenUntil = this.#seen.get(r.id);
    if (seenUntil !== undefined && seenUntil > now) return;
    this.#remember(r.id, now);
    this.#records.push(structuredClone(r));
    const deltas = recordDeltas(r);
    const minute = minuteOfHour(r.ts);
    const hour = hourStartSec(r.ts);
    for (const dim of DIMENSIONS) {
      const key = this.#keys.agg(dim, hour);
      const hash = this.#liveHash(key, now) ?? { expiresAt: 0, fields: new Map() };
      const value = dimensionValue(dim, r);
      const at = fieldMinute(dim, minute);
      for (const [counter, n] of deltas) {
        const field = bucketField(at, counter, value);
        hash.fields.set(field, (hash.fields.get(field) ?? 0n) + BigInt(n));
      }
      hash.expiresAt = now + this.#ttlMs;
      this.#hashes.set(key, hash);
    }
  }

  async query(q: UsageQuery): Promise<UsageRow[]> {
    this.#assertOpen();
    if (!DIMENSIONS.includes(q.by)) throw new RangeError(`unknown dimension ${String(q.by)}`);
    const rows = new RowBuilder(q);
    if (q.to <= q.from) return [];
    const now = this.#clock.now();
    for (const hour of hourStartsInRange(q.from, q.to)) {
      const hash = this.#liveHash(this.#keys.agg(q.by, hour), now);
      if (hash === undefined) continue;
      for (const [field, amount] of hash.fields) {
        const f = parseBucketField(field);
        if (f !== null) rows.add(hour * 1000 + f.minute * MINUTE_MS, f.value, f.counter, amount);
      }
    }
    return rows.rows();
  }

  async recent(limit: number): Promise<RequestRecord[]> {
    this.#assertOpen();
    if (!(limit >= 1)) return [];
    return this.#records.newest(Math.min(Math.floor(limit), this.#recordsMaxLen)).map((r) => structuredClone(r));
  }

  async saveKeyHint(keyId: string, hint: string): Promise<boolean> {
    this.#assertOpen();
    assertKeyHint(keyId, hint);
    const had = this.#keyHints.get(keyId);
    if (had !== undefined) return had === hint;
    if (this.#keyHints.size >= MAX_KEY_HINTS) return false;
    this.#keyHints.set(keyId, hint);
    return true;
  }

  async keyHints(): Promise<Map<string, string>> {
    this.#assertOpen();
    return new Map(this.#keyHints);
  }

  async health(): Promise<StoreHealth> {
    return { kind: 'memory', reachable: !this.#closed };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryStore is closed');
  }

  #liveHash(key: string, now: number): Hash | undefined {
    const hash = this.#hashes.get(key);
    if (hash !== undefined && hash.expiresAt <= now) {
      this.#hashes.delete(key);
      return undefined;
    }
    return hash;
  }

  #remember(id: string, now: number): void {
    this.#seen.delete(id); // re-insert at the end so Map order stays expiry order
    this.#seen.set(id, now + this.#dedupeTtlMs);
    // Evict through a ring of ids, not `#seen.keys().next()`: V8 keeps deleted slots at the
    // front of a Map, so that call rescans them and a full 100k bound cost ~60 µs per write.
    const old = this.#seenRing[this.#seenHead];
    if (old !== undefined && old !== id) this.#seen.delete(old);
    this.#seenRing[this.#seenHead] = id;
    this.#seenHead = (this.#seenHead + 1) % this.#seenRing.length;
  }

  /** Drops expired hashes and ids at most once a minute, so memory tracks the TTL, not uptime. */
  #sweep(now: number): void {
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + SWEEP_EVERY_MS;
    for (const [key, hash] of this.#hashes) if (hash.expiresAt <= now) this.#hashes.delete(key);
    for (const [id, until] of this.#seen) {
      if (until > now) break;
      this.#seen.delete(id);
    }
  }
}
