/**
 * The proxy's only entry into storage. record() is synchronous and never throws, so a
 * slow or dead store can neither delay nor fail a proxied response.
 *
 * Flow: record → queue → store.write (≤ `concurrency` in flight). A failed write puts the
 * record in the journal and marks the store down; while down (or while the journal is
 * not empty, to keep order) new records go straight to the journal. A timer replays the
 * journal in record() order (up to the reordering inherent in parallel writes) with capped
 * exponential backoff; the first batch that succeeds marks the store up. Replaying is safe
 * because store writes are idempotent by record id. Memory is bounded: queue and journal
 * each hold at most `journalMaxRecords`; beyond that the oldest record is dropped and counted.
 */
import type { Logger } from '../lib/logger.ts';
import { assertValidRecord } from './buckets.ts';
import { Fifo } from './fifo.ts';
import type { MeterStore, RequestRecord } from './types.ts';

export type RecorderEvent = 'written' | 'journaled' | 'dropped' | 'replayed' | 'write_failed';

export interface RecorderStats {
  /** Writes in flight plus records waiting for a write slot. */
  pending: number;
  /** Records held for replay because the store failed or is down. */
  journaled: number;
  /** Records lost: journal overflow, invalid records, records after close(). */
  dropped: number;
  /** Records the store acknowledged (direct writes and replays). */
  written: number;
  /** Failed write attempts (one record may fail several times). */
  failures: number;
}

export interface RecorderOptions {
  store: MeterStore;
  logger: Logger;
  journalMaxRecords: number;
  /** Store writes in flight at once (default: the store's writeConcurrency, else 16). */
  concurrency?: number;
  /** First replay delay after a failure (ms); doubles per failed attempt up to retryMaxMs. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** How long close() keeps trying to drain (ms). */
  closeTimeoutMs?: number;
  /** For metrics. 'written' = direct write acknowledged, 'replayed' = journal write acknowledged. */
  onEvent?: (e: RecorderEvent) => void;
}

const DEFAULTS = {
  concurrency: 16,
  retryInitialMs: 250, // 0.25 s
  retryMaxMs: 10_000, // 10 s
  closeTimeoutMs: 5_000, // 5 s
} as const;

/** A record plus its arrival order, which the journal keeps across failed attempts. */
interface Entry {
  seq: number;
  r: RequestRecord;
}
const bySeq = (e: Entry): number => e.seq;

export class Recorder {
  readonly #store: MeterStore;
  readonly #log: Logger;
  readonly #onEvent: (e: RecorderEvent) => void;
  readonly #concurrency: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #closeTimeoutMs: number;
  readonly #queue: Fifo<Entry>;
  readonly #journal: Fifo<Entry>;
  #seq = 0;
  #inFlight = 0;
  #down = false;
  #replaying = false;
  #timer: NodeJS.Timeout | null = null;
  #backoffMs: number;
  #closed = false;
  #closeExpired = false;
  #warnedDrop = false;
  #idleWaiters: Array<() => void> = [];
  #dropped = 0;
  #written = 0;
  #failures = 0;

  constructor(opts: RecorderOptions) {
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#onEvent = opts.onEvent ?? (() => {});
    this.#concurrency = opts.concurrency ?? opts.store.writeConcurrency ?? DEFAULTS.concurrency;
    this.#retryInitialMs = opts.retryInitialMs ?? DEFAULTS.retryInitialMs;
    this.#retryMaxMs = opts.retryMaxMs ?? DEFAULTS.retryMaxMs;
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs;
    this.#backoffMs = this.#retryInitialMs;
    if (!(Number.isSafeInteger(this.#concurrency) && this.#concurrency >= 1)) {
      throw new RangeError(`Recorder concurrency must be a positive integer, got ${this.#concurrency}`);
    }
    this.#queue = new Fifo(opts.journalMaxRecords);
    this.#journal = new Fifo(opts.journalMaxRecords);
  }

  /** Hand over a finished request. The record must not be mutated afterwards. */
  record(r: RequestRecord): void {
    try {
      if (this.#closed) return this.#drop(1); // nothing would ever replay it
      assertValidRecord(r);
      const entry = { seq: this.#seq++, r };
      if (this.#down || this.#journal.length > 0 || this.#replaying) return this.#toJournal(entry);
      this.#drop(this.#queue.push(entry).length, 'write queue full');
      this.#pump();
    } catch (err) {
      // An invalid record would fail every replay forever: count it and let it go.
      this.#log.warn({ id: r?.id, err: errMessage(err) }, 'meter record dropped');
      this.#drop(1);
    }
  }

  stats(): RecorderStats {
    return {
      pending: this.#inFlight + this.#queue.length,
      journaled: this.#journal.length,
      dropped: this.#dropped,
      written: this.#written,
      failures: this.#failures,
    };
  }

  /** Resolves once nothing is in flight or waiting for a slot: every record is written or journaled. */
  flush(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops the replay timer, then tries to write everything left until closeTimeoutMs. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    let deadline: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      deadline = setTimeout(resolve, this.#closeTimeoutMs);
    }).then(() => {
      this.#closeExpired = true;
    });
    await Promise.race([this.flush().then(() => this.#replay()), expired]);
    clearTimeout(deadline);
    const left = this.#journal.length + this.#queue.length + this.#inFlight;
    if (left > 0) this.#log.warn({ unsaved: left }, 'recorder closed with records not written to the store');
  }

  #pump(): void {
    while (!this.#down && this.#inFlight < this.#concurrency) {
      const entry = this.#queue.shift();
      if (entry === undefined) break;
      this.#inFlight += 1;
      this.#write(entry)
        .then(
          () => {
            this.#written += 1;
            this.#emit('written');
          },
          (err: unknown) => {
            this.#failures += 1;
            this.#emit('write_failed');
            this.#requeue([entry]);
            this.#emit('journaled');
            this.#markDown(err);
          },
        )
        .finally(() => {
          this.#inFlight -= 1;
          this.#pump();
        });
    }
    this.#notifyIfIdle();
  }

  /** Replays the journal head-first in batches until it is empty or a write fails. */
  async #replay(): Promise<void> {
    if (this.#replaying) return;
    this.#replaying = true;
    let retry = false;
    try {
      while (this.#journal.length > 0 && !this.#closeExpired) {
        const batch = this.#journal.shiftMany(this.#concurrency);
        this.#inFlight += batch.length;
        const results = await Promise.allSettled(batch.map((e) => this.#write(e)));
        this.#inFlight -= batch.length;
        const failed = batch.filter((_, i) => results[i]?.status === 'rejected');
        this.#written += batch.length - failed.length;
        for (let i = failed.length; i < batch.length; i++) this.#emit('replayed');
        if (failed.length > 0) {
          this.#failures += failed.length;
          for (let i = 0; i < failed.length; i++) this.#emit('write_failed');
          this.#requeue(failed);
          const rejected = results.find((x) => x.status === 'rejected');
          this.#markDown(rejected?.status === 'rejected' ? rejected.reason : 'replay failed');
          this.#backoffMs = Math.min(this.#backoffMs * 2, this.#retryMaxMs);
          retry = true;
          return;
        }
        this.#markUp();
      }
      if (this.#journal.length === 0) this.#markUp();
    } finally {
      this.#replaying = false;
      if (retry) this.#scheduleReplay();
      this.#pump();
    }
  }

  #scheduleReplay(): void {
    // A running replay reschedules itself on failure; a second timer would only race it.
    if (this.#timer !== null || this.#replaying || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#replay();
    }, this.#backoffMs);
    // A pending retry must not keep an otherwise finished process alive.
    this.#timer.unref();
  }

  #markDown(err: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.#log.warn({ err: errMessage(err) }, 'meter store unreachable; journaling records until it answers');
    // Queued records would fail the same way; keep them, in order, behind the failed one.
    for (const entry of this.#queue.shiftMany(this.#queue.length)) this.#toJournal(entry);
    this.#scheduleReplay();
  }

  #markUp(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#warnedDrop = false;
    this.#backoffMs = this.#retryInitialMs;
    this.#log.info({ journaled: this.#journal.length, dropped: this.#dropped }, 'meter store reachable again');
  }

  #toJournal(entry: Entry): void {
    const evicted = this.#journal.push(entry);
    this.#emit('journaled');
    this.#drop(evicted.length, 'journal full');
    if (this.#down) this.#scheduleReplay();
  }

  /**
   * Returns failed records to the journal at their place in record() order (at or near
   * the head), so the replay stays ordered and overflow still drops the oldest first.
   */
  #requeue(entries: readonly Entry[]): void {
    for (const e of entries) this.#drop(this.#journal.insertSorted(e, bySeq).length, 'journal full');
  }

  /** Counts lost records; an overflow is logged once per outage, not once per record. */
  #drop(n: number, overflow?: string): void {
    if (n === 0) return;
    if (overflow !== undefined && !this.#warnedDrop) {
      this.#warnedDrop = true;
      this.#log.warn({ reason: overflow }, 'meter records dropped: oldest records discarded to bound memory');
    }
    this.#dropped += n;
    for (let i = 0; i < n; i++) this.#emit('dropped');
  }

  /** store.write may throw synchronously (a buggy adapter); treat it as a rejection. */
  #write({ r }: Entry): Promise<void> {
    try {
      return this.#store.write(r);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #emit(e: RecorderEvent): void {
    try {
      this.#onEvent(e);
    } catch {
      // A metrics callback bug must not break metering; stats() still counts the event.
    }
  }

  #isIdle(): boolean {
    return this.#inFlight === 0 && this.#queue.length === 0 && !this.#replaying;
  }

  #notifyIfIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
