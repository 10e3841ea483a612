import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { OutageLog } from '../lib/outage-log.ts';
import type { Amount, BudgetConfig, Cost, InstanceRef } from './types.ts';

export interface PendingSettle {
  refs: InstanceRef[];
  budgets: BudgetConfig[];
  /** What each ref reserved (its currency), when the request was admitted. */
  amounts?: readonly Amount[];
  /** Admitted from this proxy's leases: it settles into them (BudgetGate.settle). */
  leased?: boolean;
  id: string;
  /** The actual cost as billed (currency and pico, or unpriced) and tokens; the gate converts it per ref. */
  actual: Cost;
  /** What each ref counts, in its currency, instead of `actual` converted (a batch hold that becomes spend at its estimate). */
  counted?: readonly Amount[];
  /** The upstream refused the request and nothing was billed: discard instead of settling (BudgetLedger.discard). */
  discard?: boolean;
}

/** The first retry waits this long; each failed retry doubles it, up to RETRY_MAX_MS. */
export const RETRY_INITIAL_MS = 250;
export const RETRY_MAX_MS = 10_000;

/**
 * Settles run after the response, off the request path. When the budget store is
 * unreachable they wait here (bounded, FIFO) and are retried with backoff: spend that
 * happened is never dropped while memory allows. Settles are idempotent by request id
 * in the store, so a retry after an ambiguous failure cannot count twice.
 */
export class SettleQueue {
  readonly #run: (p: PendingSettle) => Promise<void>;
  readonly #logger: Logger;
  readonly #clock: Timers;
  readonly #max: number;
  readonly #pending: PendingSettle[] = [];
  readonly #inflight = new Set<Promise<void>>();
  #timer: TimerHandle | null = null;
  /** One drain at a time: a second would run the head again and then shift off a settle never run. */
  #draining: Promise<void> | null = null;
  #delayMs = RETRY_INITIAL_MS;
  /** Store failures, logged per outage: down, a summary at most once a minute, up. */
  readonly #outage: OutageLog;
  #dropped = 0;

  constructor(opts: { run: (p: PendingSettle) => Promise<void>; logger: Logger; clock: Timers; maxPending?: number }) {
    this.#run = opts.run;
    this.#logger = opts.logger;
    this.#clock = opts.clock;
    this.#max = opts.maxPending ?? 100_000;
    this.#outage = new OutageLog({
      logger: opts.logger,
      clock: opts.clock,
      level: 'error',
      messages: {
        down: 'budget store unreachable: settles are queued and retried',
        still: 'budget store still unreachable: settles queued',
        up: 'budget store reachable again: queued settles applied',
      },
    });
  }

  push(p: PendingSettle): void {
    // A leased settle touches no store (it settles into this proxy's leases): never queued, never dropped.
    if (p.leased === true && p.refs.length === (p.amounts?.length ?? -1)) {
      void this.#run(p).catch((err: unknown) => this.#onFailure(err));
      return;
    }
    if (this.#pending.length > 0) {
      this.#enqueue(p); // keep order behind earlier failures
      return;
    }
    const task = this.#run(p).then(
      () => undefined,
      (err: unknown) => {
        this.#onFailure(err);
        this.#enqueue(p);
      },
    );
    this.#inflight.add(task);
    void task.finally(() => this.#inflight.delete(task));
  }

  stats(): { pending: number; dropped: number } {
    return { pending: this.#pending.length, dropped: this.#dropped };
  }

  /** Waits for in-flight settles (queued ones stay queued). */
  async flush(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
  }

  /** One last drain attempt, and no retry after it. */
  async close(): Promise<void> {
    await this.flush();
    this.#stopTimer();
    await this.#drain();
    this.#stopTimer();
    if (this.#pending.length > 0)
      this.#logger.error({ pending: this.#pending.length }, 'budget settles lost at shutdown: store unreachable');
  }

  #enqueue(p: PendingSettle): void {
    if (this.#pending.length >= this.#max) {
      this.#pending.shift();
      this.#dropped++;
    }
    this.#pending.push(p);
    this.#schedule();
  }

  #onFailure(err: unknown): void {
    this.#outage.failed(err, () => ({ pending: this.#pending.length, dropped: this.#dropped }));
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      void this.#drain();
    }, this.#delayMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #drain(): Promise<void> {
    this.#draining ??= this.#drainNow().finally(() => {
      this.#draining = null;
    });
    return this.#draining;
  }

  async #drainNow(): Promise<void> {
    while (this.#pending.length > 0) {
      const p = this.#pending[0];
      if (!p) break;
      try {
        await this.#run(p);
      } catch (err) {
        this.#onFailure(err);
        this.#delayMs = Math.min(RETRY_MAX_MS, this.#delayMs * 2);
        this.#schedule();
        return;
      }
      // Unless the bound dropped it meanwhile.
      if (this.#pending[0] === p) this.#pending.shift();
    }
    this.#outage.recovered();
    this.#delayMs = RETRY_INITIAL_MS;
  }
}
