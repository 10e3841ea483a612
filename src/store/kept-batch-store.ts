/**
 * A BatchStore that keeps what the store could not take: a batch created while Redis is
 * unreachable is remembered later, not forgotten. Its budget hold was made at create; unless
 * the batch is remembered, nothing would spend the hold at expiry or release it when results
 * are read, and the batch's cost would fall off its budgets after 24 h (docs/batches.md).
 *
 * A refused remember() resolves (the create flows) and is kept in memory, bounded; every later
 * call on the store first gives the kept ones to it again, so a results download or the hold
 * sweeper (every minute) finds the batch once the store is back. A proxy restart loses what is
 * kept, as a crash loses the record journal (docs/guarantees.md).
 */
import type { Logger } from '../lib/logger.ts';
import type { BatchOrigin, BatchState, BatchStore, ClaimResult, DueHold } from './batch-store.ts';

/** Remembers kept at most; past it the oldest is dropped (and logged: its hold lapses unspent). */
export const KEPT_MAX = 10_000;

export class KeptBatchStore implements BatchStore {
  readonly #inner: BatchStore;
  readonly #logger: Logger;
  readonly #max: number;
  readonly #kept = new Map<string, BatchOrigin>();
  #giving: Promise<void> | null = null;

  constructor(inner: BatchStore, logger: Logger, max = KEPT_MAX) {
    this.#inner = inner;
    this.#logger = logger;
    this.#max = max;
  }

  get kind(): BatchStore['kind'] {
    return this.#inner.kind;
  }

  /** Remembers not yet taken by the store. */
  get kept(): number {
    return this.#kept.size;
  }

  async remember(batchId: string, origin: BatchOrigin, now: number): Promise<void> {
    await this.#give(now);
    try {
      await this.#inner.remember(batchId, origin, now);
    } catch (err) {
      if (err instanceof RangeError) throw err; // a bad argument, not a store that is down
      if (this.#kept.size >= this.#max) {
        const [oldest] = this.#kept.keys();
        if (oldest !== undefined) {
          this.#kept.delete(oldest);
          this.#logger.error({ batch: oldest }, 'batch store unreachable too long: a kept batch is dropped, its hold lapses in 24 h');
        }
      }
      if (!this.#kept.has(batchId)) this.#kept.set(batchId, origin);
      this.#logger.warn({ err, batch: batchId }, 'batch store unreachable: the batch is kept and remembered when it returns');
    }
  }

  async noteEnded(batchId: string, endedAt: number, now: number): Promise<void> {
    await this.#give(now);
    return this.#inner.noteEnded(batchId, endedAt, now);
  }

  async info(batchId: string, now: number): Promise<BatchState | null> {
    await this.#give(now);
    return this.#inner.info(batchId, now);
  }

  async claim(batchId: string, customIds: readonly string[], now: number): Promise<ClaimResult> {
    await this.#give(now);
    return this.#inner.claim(batchId, customIds, now);
  }

  async claimedAll(batchId: string, now: number): Promise<void> {
    await this.#give(now);
    return this.#inner.claimedAll(batchId, now);
  }

  async addCounted(batchId: string, pico: number, now: number): Promise<void> {
    await this.#give(now);
    return this.#inner.addCounted(batchId, pico, now);
  }

  async settleHold(batchId: string, now: number): Promise<boolean> {
    await this.#give(now);
    return this.#inner.settleHold(batchId, now);
  }

  async dueHolds(now: number, limit: number): Promise<DueHold[]> {
    await this.#give(now);
    return this.#inner.dueHolds(now, limit);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** Gives the kept remembers to the store, oldest first, until one is refused (the store is still down). One pass at a time. */
  #give(now: number): Promise<void> {
    if (this.#kept.size === 0) return Promise.resolve();
    this.#giving ??= (async () => {
      for (const [batchId, origin] of this.#kept) {
        try {
          await this.#inner.remember(batchId, origin, now);
        } catch {
          return;
        }
        this.#kept.delete(batchId);
        this.#logger.info({ batch: batchId }, 'batch store back: a kept batch is remembered');
      }
    })().finally(() => {
      this.#giving = null;
    });
    return this.#giving;
  }
}
