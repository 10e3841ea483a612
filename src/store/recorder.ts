/**
 * The proxy's only entry into storage. record() is synchronous and never throws, so a
 * slow or dead store can neither delay nor fail a proxied response.
 *
 * Flow: record → queue → store.writeBatch, group commit: a batch leaves `lingerMs` after
 * its first record or when it holds `batchMax`, whichever comes first, with at most
 * `concurrency` calls in flight (a partial batch queued behind busy slots leaves on the next
 * linger after a call returns). The store sees at most one call per linger and slot whatever
 * the rate, and records wait at most about `lingerMs` when the store keeps up. A failed batch goes to the journal and marks the
 * store down; while down (or while the journal is not empty, to keep order) new records
 * go straight to the journal. A timer replays the journal in record() order with capped
 * exponential backoff; the first batch that succeeds marks the store up. Replaying is safe
 * because store writes are idempotent by record id. Memory is bounded: queue and journal
 * each hold at most `journalMaxRecords`; beyond that the oldest record is dropped and counted.
 */
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { OutageLog } from '../lib/outage-log.ts';
import { assertValidRecord } from './buckets.ts';
import { Fifo } from './fifo.ts';
import { RECORDER_DEFAULTS, type RecorderOptions, type RecorderOutcome } from './recorder-options.ts';
import { Linger, RetryTimer } from './recorder-timers.ts';
import type { MeterStore, RequestRecord } from './types.ts';

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

/** A record plus its arrival order, which the journal keeps across failed attempts. */
interface Entry {
  seq: number;
  r: RequestRecord;
}
const bySeq = (e: Entry): number => e.seq;
const recordOf = (e: Entry): RequestRecord => e.r;

/** A store call's rejection, boxed: any value, even undefined, is a failure. */
interface Failure {
  err: unknown;
}

export class Recorder {
  readonly #store: MeterStore;
  readonly #log: Logger;
  readonly #clock: Timers;
  readonly #onOutcome: (outcome: RecorderOutcome, n: number) => void;
  readonly #concurrency: number;
  readonly #batchMax: number;
  readonly #linger: Linger;
  readonly #closeTimeoutMs: number;
  readonly #queue: Fifo<Entry>;
  readonly #journal: Fifo<Entry>;
  #seq = 0;
  /** Records in store calls not yet returned, and those calls. */
  #inFlight = 0;
  #calls = 0;
  #down = false;
  #replaying = false;
  readonly #retry: RetryTimer;
  #closed = false;
  #closeExpired = false;
  /** Failed writes, logged per outage: down, a summary at most once a minute, up. */
  readonly #outage: OutageLog;
  #warnedDrop = false;
  #idleWaiters: Array<() => void> = [];
  #dropped = 0;
  #written = 0;
  #failures = 0;

  constructor(opts: RecorderOptions) {
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#clock = opts.clock;
    this.#onOutcome = opts.onOutcome ?? (() => {});
    this.#concurrency = opts.concurrency ?? RECORDER_DEFAULTS.concurrency;
    this.#batchMax = opts.batchMax ?? RECORDER_DEFAULTS.batchMax;
    this.#retry = new RetryTimer(
      opts.retryInitialMs ?? RECORDER_DEFAULTS.retryInitialMs,
      opts.retryMaxMs ?? RECORDER_DEFAULTS.retryMaxMs,
      opts.clock,
    );
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? RECORDER_DEFAULTS.closeTimeoutMs;
    for (const [name, v] of [
      ['concurrency', this.#concurrency],
      ['batchMax', this.#batchMax],
    ] as const) {
      if (!(Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`Recorder ${name} must be a positive integer, got ${v}`);
    }
    const lingerMs = opts.lingerMs ?? RECORDER_DEFAULTS.lingerMs;
    if (!(lingerMs >= 0)) throw new RangeError(`Recorder lingerMs must be >= 0, got ${lingerMs}`);
    this.#linger = new Linger(lingerMs, () => this.#pump(), opts.clock);
    this.#queue = new Fifo(opts.journalMaxRecords);
    this.#journal = new Fifo(opts.journalMaxRecords);
    this.#outage = new OutageLog({
      logger: opts.logger,
      clock: opts.clock,
      messages: {
        down: 'meter store unreachable; journaling records until it answers',
        still: 'meter store still unreachable; records journaled',
        up: 'meter store reachable again',
      },
    });
  }

  /** Hand over a finished request. The record must not be mutated afterwards. */
  record(r: RequestRecord): void {
    try {
      if (this.#closed) return this.#drop(1); // nothing would ever replay it
      assertValidRecord(r);
      const entry = { seq: this.#seq++, r };
      if (this.#down || this.#journal.length > 0 || this.#replaying) return this.#toJournal(entry);
      this.#drop(this.#queue.push(entry).length, 'write queue full');
      if (this.#queue.length >= this.#batchMax) this.#pump();
      else this.#linger.arm();
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
    this.#retry.cancel();
    this.#pump(); // a batch still lingering goes now
    let expire!: () => void;
    const expired = new Promise<void>((resolve) => (expire = resolve)).then(() => {
      this.#closeExpired = true;
    });
    const deadline = this.#clock.setTimeout(() => expire(), this.#closeTimeoutMs);
    await Promise.race([this.flush().then(() => this.#replay()), expired]);
    this.#clock.clearTimeout(deadline);
    const left = this.#journal.length + this.#queue.length + this.#inFlight;
    if (left > 0) this.#log.warn({ unsaved: left }, 'recorder closed with records not written to the store');
  }

  /** Sends whole batches while a call slot is free; a call's return pumps again (group commit). */
  #pump(): void {
    while (!this.#down && this.#calls < this.#concurrency && this.#queue.length > 0) {
      const batch = this.#queue.shiftMany(this.#batchMax);
      this.#calls += 1;
      this.#inFlight += batch.length;
      this.#write(batch).then(
        () => this.#sent(batch, null),
        (err: unknown) => this.#sent(batch, { err }),
      );
    }
    // Nothing left to wait for. Records still queued (every slot busy) leave when a call returns.
    if (this.#queue.length === 0) this.#linger.cancel();
    this.#notifyIfIdle();
  }

  #sent(batch: Entry[], failure: Failure | null): void {
    this.#calls -= 1;
    this.#inFlight -= batch.length;
    this.#returned(batch, failure, 'written');
    // A return sends whole batches at once; a partial one waits out its linger, so at any rate
    // a store sees at most one call per linger and slot, not one per record.
    if (this.#queue.length >= this.#batchMax || this.#closed) this.#pump();
    else if (this.#queue.length > 0) this.#linger.arm();
    else this.#notifyIfIdle();
  }

  /**
   * The accounting shared by direct writes and replays once the store call returns. A failed
   * batch goes back to the journal (a direct write's records enter it now) and marks the store down.
   */
  #returned(batch: readonly Entry[], failure: Failure | null, success: 'written' | 'replayed'): void {
    if (failure === null) {
      this.#written += batch.length;
      this.#emit(success, batch.length);
      return;
    }
    this.#failures += batch.length;
    this.#emit('write_failed', batch.length);
    this.#requeue(batch);
    if (success === 'written') this.#emit('journaled', batch.length);
    this.#markDown(failure.err);
  }

  /** Replays the journal head-first in batches until it is empty or a write fails. */
  async #replay(): Promise<void> {
    if (this.#replaying) return;
    this.#replaying = true;
    let retry = false;
    try {
      while (this.#journal.length > 0 && !this.#closeExpired) {
        const batch = this.#journal.shiftMany(this.#batchMax);
        this.#inFlight += batch.length;
        let failure: Failure | null = null;
        try {
          await this.#write(batch);
        } catch (err) {
          failure = { err };
        }
        this.#inFlight -= batch.length;
        this.#returned(batch, failure, 'replayed');
        if (failure !== null) {
          this.#retry.backOff();
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
    if (this.#replaying || this.#closed) return;
    this.#retry.schedule(() => void this.#replay());
  }

  #markDown(err: unknown): void {
    this.#outage.failed(err, () => ({ journaled: this.#journal.length, dropped: this.#dropped }));
    if (this.#down) return;
    this.#down = true;
    // Queued records would fail the same way; keep them, in order, behind the failed one.
    for (const entry of this.#queue.shiftMany(this.#queue.length)) this.#toJournal(entry);
    this.#scheduleReplay();
  }

  #markUp(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#warnedDrop = false;
    this.#retry.reset();
    this.#outage.recovered(() => ({ journaled: this.#journal.length, dropped: this.#dropped }));
  }

  #toJournal(entry: Entry): void {
    const evicted = this.#journal.push(entry);
    this.#emit('journaled', 1);
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
    this.#emit('dropped', n);
  }

  /** store.writeBatch may throw synchronously (a buggy adapter); treat it as a rejection. */
  #write(batch: readonly Entry[]): Promise<void> {
    try {
      return this.#store.writeBatch(batch.map(recordOf));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #emit(outcome: RecorderOutcome, n: number): void {
    try {
      this.#onOutcome(outcome, n);
    } catch {
      // A metrics callback bug must not break metering; stats() still counts the records.
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
