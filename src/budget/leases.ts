/**
 * The I/O side of leasing: syncs this proxy's LeaseBook with the ledger, one script call per
 * tick for every instance that needs it (settled spend, a lease to top up, return or renew),
 * while anything is held; nothing runs on an idle proxy.
 */
import { randomBytes } from 'node:crypto';
import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { OutageLog } from '../lib/outage-log.ts';
import { LeaseBook, type LeaseBatch, type LeaseSettings } from './lease-book.ts';
import type { BudgetConfig, BudgetLedger, InstanceRef, LeaseGrant } from './types.ts';

export interface LeaseSyncEvents {
  /** A sync answered: the instances' states before and after it, and the spend it carried (added now, or by an earlier attempt whose answer was lost). */
  onSynced(budgets: readonly BudgetConfig[], refs: readonly InstanceRef[], grants: readonly LeaseGrant[], spent: readonly number[]): void;
  /** Leases shrank on these refs: requests waiting here may now fit. */
  onReturned(refs: readonly InstanceRef[]): void;
}

/** A holder id: unique per process (workers and proxies each lease on their own). */
export function newHolder(): string {
  return randomBytes(6).toString('hex');
}

export class LeaseKeeper {
  readonly book: LeaseBook;
  readonly #ledger: Pick<BudgetLedger, 'lease'>;
  readonly #clock: Timers;
  readonly #events: LeaseSyncEvents;
  readonly #holder: string;
  readonly #outage: OutageLog;
  readonly #logger: Logger;
  #timer: TimerHandle | null = null;
  #syncing: Promise<void> | null = null;
  /** A recall came while a sync was in flight: one more after it. */
  #again = false;
  #closed = false;

  constructor(opts: {
    ledger: Pick<BudgetLedger, 'lease'>;
    clock: Timers;
    logger: Logger;
    events: LeaseSyncEvents;
    keyOf: (ref: InstanceRef) => string;
    holder?: string;
    settings?: Partial<LeaseSettings>;
  }) {
    this.#ledger = opts.ledger;
    this.#clock = opts.clock;
    this.#events = opts.events;
    this.#holder = opts.holder ?? newHolder();
    this.#logger = opts.logger;
    this.book = new LeaseBook(this.#holder, opts.keyOf, opts.settings);
    this.#outage = new OutageLog({
      logger: opts.logger,
      clock: opts.clock,
      level: 'error',
      messages: {
        down: 'budget store unreachable at lease sync: leased spend is kept and re-sent; leases lapse and admission falls back to the store',
        still: 'budget store still unreachable at lease sync',
        up: 'budget store reachable again at lease sync: leased spend applied',
      },
    });
  }

  /** Something was taken, noted or settled: make sure a sync will come. */
  wake(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      void this.sync().finally(() => {
        if (!this.book.idle) this.wake();
      });
    }, this.book.settings.tickMs);
    this.#timer.unref();
  }

  /** A request waits on this instance for headroom leases hold: return this proxy's unused part now. */
  recall(key: string): void {
    if (!this.book.recall(key, this.#clock.now()) || this.#closed) return;
    if (this.#syncing !== null) this.#again = true;
    else void this.sync();
  }

  /** One sync now, after any in flight (one at a time); resolves when it answered or failed. */
  async sync(drain = false): Promise<void> {
    while (this.#syncing !== null) await this.#syncing;
    const run = this.#syncNow(drain).finally(() => {
      this.#syncing = null;
      if (this.#again && !this.#closed) {
        this.#again = false;
        void this.sync();
      }
    });
    this.#syncing = run;
    await run;
  }

  async #syncNow(drain: boolean): Promise<void> {
    const batch = this.book.plan(this.#clock.now(), drain);
    if (batch === null) return;
    const s = this.book.settings;
    try {
      const r = await this.#ledger.lease(this.#holder, batch.id, batch.entries, s.share, batch.sentAt, {
        ttlMs: s.ttlMs,
        heldTtlMs: s.heldTtlMs,
      });
      this.#outage.recovered();
      this.#applied(batch, r.grants);
    } catch (err) {
      // The batch stays unconfirmed in the book: the next sync re-sends its spend under its id.
      this.#outage.failed(err, () => ({ instances: batch.entries.length }));
    }
  }

  #applied(batch: LeaseBatch, grants: readonly LeaseGrant[]): void {
    const { refs, budgets } = this.book.describe(batch);
    const returned = this.book.applied(batch, grants);
    const spent = batch.entries.map((e) => e.spent.pico);
    this.#events.onSynced(budgets, refs, grants, spent);
    if (returned.length > 0) this.#events.onReturned(returned);
  }

  /**
   * Shutdown, after requests drained: every unused lease is returned and settled spend sent;
   * a store that does not answer gets a few tries, then what is owed is logged as lost.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#syncing;
    for (let i = 0; i < 3 && this.book.owes(); i++) await this.sync(true);
    if (this.book.owes()) this.#logger.error({ holder: this.#holder }, 'leased budget spend lost at shutdown: store unreachable');
  }
}
