/**
 * The proxy's only entry into storage. record() is synchronous and never throws, so a
 * slow or dead store can neither delay nor fail a proxied response.
 *
 * Flow: record → queue → store.write (≤ `concurrency` in flight). A failed write puts the
 * record in the journal and marks the store down; while down (or while the journal is
 * not empty, to keep order) new records go straight to the journal. A timer replays the
 * journal in order (up to the reordering inherent in `concurrency` parallel writes) with
 * capped exponential backoff; the first batch that succeeds marks
 * the store up. Replays are safe because store writes are idempotent by record id.
 * Memory is bounded: queue and journal each hold at most `journalMaxRecords`; beyond
 * that the oldest record is dropped and counted.
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
  /** Store writes in flight at once. */
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

export class Recorder {
  readonly #store: MeterStore;
  readonly #log: Logger;
  readonly #onEvent: (e: RecorderEvent) => void;
  readonly #concurrency: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #closeTimeoutMs: number;
  readonly #queue: Fifo<RequestRecord>;
  readonly #journal: Fifo<RequestRecord>;
  #inFlight = 0;
  #down = false;
  #replaying = false;
  #timer: NodeJS.Timeout | null = null;
  #backoffMs: number;
  #closed = false;
  #closeExpired = false;
  #warnedOverflow = false;
  #idleWaiters: Array<() => void> = [];
  #dropped = 0;
  #written = 0;
  #failures = 0;

  constructor(opts: RecorderOptions) {
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#onEvent = opts.onEvent ?? (() => {});
    this.#concurrency = opts.concurrency ?? DEFAULTS.concurrency;
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
      if (this.#closed) return this.#drop(1);
      assertValidRecord(r);
      if (this.#down || this.#journal.length > 0 || this.#replaying) {
        this.#toJournal(r);
        return;
      }
      this.#onDropped(this.#queue.push(r).length, 'write queue full');
      this.#pump();
    } catch (err) {
      // Invalid records would fail every replay forever: count and drop them instead.
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
      deadline = setTimeout(() => {
        this.#closeExpired = true;
        resolve();
      }, this.#closeTimeoutMs);
    });
    try {
      await Promise.race([this.flush().then(() => this.#replay()), expired]);
    } finally {
      clearTimeout(deadline);
    }
    const left = this.#journal.length + this.#queue.length + this.#inFlight;
    if (left > 0) this.#log.warn({ unsaved: left }, 'recorder closed with records not written to the store');
  }

  #pump(): void {
    while (!this.#down && this.#inFlight < this.#concurrency) {
      const r = this.#queue.shift();
      if (r === undefined) break;
      this.#inFlight += 1;
      this.#write(r).then(
        () => {
          this.#written += 1;
          this.#emit('written');
        },
        (err: unknown) => {
          this.#failures += 1;
          this.#emit('write_failed');
          // At the head: it was recorded before anything now in the journal (records only
          // bypass the journal while it is empty), so overflow still drops the oldest first.
          this.#onDropped(this.#journal.unshiftAll([r]).length, 'journal full');
          this.#emit('journaled');
          this.#markDown(err);
        },
      ).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
      });
    }
    this.#notifyIfIdle();
  }

  /** Replays the journal head-first in batches; returns when it is empty or a write failed. */
  async #replay(): Promise<void> {
    if (this.#replaying) return;
    this.#replaying = true;
    try {
      while (this.#journal.length > 0 && !this.#closeExpired) {
        const batch = this.#journal.shiftMany(this.#concurrency);
        this.#inFlight += batch.length;
        const results = await Promise.allSettled(batch.map((r) => this.#write(r)));
        this.#inFlight -= batch.length;
        const failed = batch.filter((_, i) => results[i]?.status === 'rejected');
        this.#written += batch.length - failed.length;
        for (let i = failed.length; i < batch.length; i++) this.#emit('replayed');
        if (failed.length > 0) {
          this.#failures += failed.length;
          for (const _ of failed) this.#emit('write_failed');
          // Back at the head, in order: the journal stays FIFO across failed attempts.
          this.#onDropped(this.#journal.unshiftAll(failed).length, 'journal full');
          const first = results.find((x) => x.status === 'rejected');
          this.#markDown(first?.status === 'rejected' ? first.reason : 'replay failed');
          this.#backoffMs = Math.min(this.#backoffMs * 2, this.#retryMaxMs);
          this.#scheduleReplay();
          return;
        }
        this.#markUp();
      }
      if (this.#journal.length === 0) this.#markUp();
    } finally {
      this.#replaying = false;
      this.#pump();
    }
  }

  #scheduleReplay(): void {
    // While a replay runs it reschedules itself on failure; a second timer would only race it.
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
    for (const r of this.#queue.shiftMany(this.#queue.length)) this.#toJournal(r);
    this.#scheduleReplay();
  }

  #markUp(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#warnedOverflow = false;
    this.#backoffMs = this.#retryInitialMs;
    this.#log.info({ journaled: this.#journal.length, dropped: this.#dropped }, 'meter store reachable again');
  }

  #toJournal(r: RequestRecord): void {
    const evicted = this.#journal.push(r);
    this.#emit('journaled');
    this.#onDropped(evicted.length, 'journal full');
    if (this.#down) this.#scheduleReplay();
  }

  #onDropped(n: number, why: string): void {
    if (n === 0) return;
    if (!this.#warnedOverflow) {
      this.#warnedOverflow = true;
      this.#log.warn({ reason: why }, 'meter records dropped: oldest records discarded to bound memory');
    }
    this.#drop(n);
  }

  #drop(n: number): void {
    this.#dropped += n;
    for (let i = 0; i < n; i++) this.#emit('dropped');
  }

  /** store.write may throw synchronously (a buggy adapter); treat it as a rejection. */
  #write(r: RequestRecord): Promise<void> {
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
      // A metrics callback bug must not break metering; the stats still count the event.
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
