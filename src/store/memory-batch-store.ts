/**
 * BatchStore in process memory, for one proxy (`store: memory`) and tests. It forgets
 * everything on restart, so a batch downloaded before and after a restart is counted twice:
 * deployments that download results through several proxies, or across restarts, use Redis.
 *
 * Bounds: at most `maxIds` claimed ids in all (default 1,000,000: about 100 MB at the 64
 * characters a custom_id may have) and MAX_BATCH_REQUESTS per batch, and at most `maxBatches`
 * batches. Past `maxIds` or `maxBatches`, the batch remembered or claimed longest ago (sparing
 * those with a hold still to settle, unless every batch has one) is
 * dropped whole (a later download of it would be counted again: an old batch is the one most
 * likely downloaded already); past MAX_BATCH_REQUESTS, a batch's further ids are ignored.
 * Everything is also dropped when its lifetime ends (as Redis would expire it), checked at most
 * once a minute.
 */
import { MINUTE_MS } from '../core/time.ts';
import {
  assertBatchId,
  assertNow,
  type BatchOrigin,
  type BatchState,
  type BatchStore,
  claimsUntil,
  type ClaimResult,
  decodeOrigin,
  type DueHold,
  encodeOrigin,
  endedUntil,
  isCustomId,
  MAX_BATCH_REQUESTS,
  originUntil,
} from './batch-store.ts';

export interface MemoryBatchStoreOptions {
  /** Claimed ids kept in all, across batches. */
  maxIds?: number;
  /** Batches known at once. */
  maxBatches?: number;
}

interface Entry {
  /** The origin as stored (JSON), so what `info` returns is a copy, as from Redis. */
  origin: string | null;
  hasHold: boolean;
  endedAt: number | null;
  holdSettled: boolean;
  /** What its lines counted (BatchState.counted). */
  counted: number;
  /** The claimed ids; null once all were claimed (`claimedAll`). */
  ids: Set<string> | null;
  /** Epoch ms after which the entry is forgotten. */
  until: number;
}

export class MemoryBatchStore implements BatchStore {
  readonly kind = 'memory' as const;
  readonly #maxIds: number;
  readonly #maxBatches: number;
  /** In the order batches were last remembered or claimed: the first is the one dropped at a bound. */
  readonly #entries = new Map<string, Entry>();
  #ids = 0;
  #nextSweep = 0;

  constructor(opts: MemoryBatchStoreOptions = {}) {
    this.#maxIds = opts.maxIds ?? 1_000_000;
    this.#maxBatches = opts.maxBatches ?? 10_000;
    for (const [name, v] of [
      ['maxIds', this.#maxIds],
      ['maxBatches', this.#maxBatches],
    ] as const) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`MemoryBatchStore ${name} must be a positive integer, got ${v}`);
    }
  }

  /** Claimed ids held now (tests check the bound). */
  get idCount(): number {
    return this.#ids;
  }

  get batchCount(): number {
    return this.#entries.size;
  }

  async remember(batchId: string, origin: BatchOrigin, now: number): Promise<void> {
    const json = encodeOrigin(origin);
    const e = this.#entry(batchId, now, originUntil(origin));
    if (e.origin !== null) return;
    e.origin = json;
    e.hasHold = origin.hold !== null && origin.hold !== undefined;
  }

  async noteEnded(batchId: string, endedAt: number, now: number): Promise<void> {
    assertNow(endedAt);
    const e = this.#entry(batchId, now, endedUntil(endedAt));
    e.endedAt ??= endedAt;
  }

  async info(batchId: string, now: number): Promise<BatchState | null> {
    assertBatchId(batchId);
    const e = this.#live(batchId, now);
    if (e === undefined || (e.origin === null && e.endedAt === null)) return null;
    return {
      origin: e.origin === null ? null : decodeOrigin(e.origin),
      endedAt: e.endedAt,
      holdSettled: e.holdSettled,
      counted: e.counted,
    };
  }

  async addCounted(batchId: string, pico: number, now: number): Promise<void> {
    assertBatchId(batchId);
    const e = this.#live(batchId, now);
    if (e === undefined || !Number.isSafeInteger(pico) || pico <= 0) return;
    e.counted += pico;
  }

  async claim(batchId: string, customIds: readonly string[], now: number): Promise<ClaimResult> {
    const e = this.#entry(batchId, now, claimsUntil(now));
    const claimed: string[] = [];
    let ignored = 0;
    const ids = e.ids;
    if (ids === null) return { claimed, ignored: customIds.filter((id) => !isCustomId(id)).length };
    for (const id of customIds) {
      if (!isCustomId(id)) ignored++;
      else if (ids.has(id)) continue;
      else if (ids.size >= MAX_BATCH_REQUESTS || !this.#roomForId(e)) ignored++;
      else {
        ids.add(id);
        this.#ids++;
        claimed.push(id);
      }
    }
    return { claimed, ignored };
  }

  async claimedAll(batchId: string, now: number): Promise<void> {
    const e = this.#entry(batchId, now, claimsUntil(now));
    this.#ids -= e.ids?.size ?? 0;
    e.ids = null;
  }

  async settleHold(batchId: string, now: number): Promise<boolean> {
    assertBatchId(batchId);
    const e = this.#live(batchId, now);
    if (e === undefined || !e.hasHold || e.holdSettled) return false;
    e.holdSettled = true;
    return true;
  }

  async dueHolds(now: number, limit: number): Promise<DueHold[]> {
    assertNow(now);
    this.#sweep(now);
    const due: DueHold[] = [];
    for (const [batchId, e] of this.#entries) {
      if (!e.hasHold || e.holdSettled || e.origin === null || now >= e.until) continue;
      const origin = decodeOrigin(e.origin);
      if (origin !== null && origin.expiresAt <= now) due.push({ batchId, origin });
    }
    due.sort((a, b) => a.origin.expiresAt - b.origin.expiresAt || (a.batchId < b.batchId ? -1 : 1));
    return due.slice(0, Math.max(0, Math.floor(limit)));
  }

  async close(): Promise<void> {
    this.#entries.clear();
    this.#ids = 0;
  }

  /** The batch's live entry, if any. */
  #live(batchId: string, now: number): Entry | undefined {
    assertNow(now);
    const e = this.#entries.get(batchId);
    if (e === undefined || now < e.until) return e;
    this.#drop(batchId, e);
    return undefined;
  }

  /** The batch's entry, made if need be, living at least until `until`; moved to the back of the drop order. */
  #entry(batchId: string, now: number, until: number): Entry {
    assertBatchId(batchId);
    this.#sweep(now);
    let e = this.#live(batchId, now);
    if (e === undefined) {
      while (this.#entries.size >= this.#maxBatches) this.#dropOldest();
      e = { origin: null, hasHold: false, endedAt: null, holdSettled: false, counted: 0, ids: new Set(), until };
    } else this.#entries.delete(batchId);
    this.#entries.set(batchId, e);
    e.until = Math.max(e.until, until);
    return e;
  }

  /** Makes room for one more id by dropping other batches, oldest first; false when only `e` is left. */
  #roomForId(e: Entry): boolean {
    while (this.#ids >= this.#maxIds) {
      const [, first] = this.#entries.entries().next().value as [string, Entry];
      if (first === e) return false;
      this.#dropOldest(e);
    }
    return true;
  }

  /**
   * Drops the batch used longest ago, sparing those with a hold still to settle (forgetting one
   * would leave its hold unswept): a client paging through an org's old batches only notes ends.
   * Only when every batch holds one does the oldest go anyway: the bound comes first.
   */
  #dropOldest(except?: Entry): void {
    let oldest: [string, Entry] | null = null;
    for (const entry of this.#entries) {
      const e = entry[1];
      if (e === except) continue;
      oldest ??= entry;
      if (!e.hasHold || e.holdSettled) {
        this.#drop(entry[0], e);
        return;
      }
    }
    if (oldest !== null) this.#drop(oldest[0], oldest[1]);
  }

  #drop(batchId: string, e: Entry): void {
    this.#ids -= e.ids?.size ?? 0;
    this.#entries.delete(batchId);
  }

  #sweep(now: number): void {
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + MINUTE_MS;
    for (const [batchId, e] of this.#entries) if (now >= e.until) this.#drop(batchId, e);
  }
}
