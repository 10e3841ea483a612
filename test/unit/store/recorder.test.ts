/**
 * Recorder behaviour with an in-process store that can be switched off: ordering,
 * bounded concurrency, logging once per outage, close() semantics. No sockets; the linger,
 * the replay backoff, close()'s deadline and the store's latency are on a ManualClock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../../../src/lib/logger.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import type { RecorderOptions, RecorderOutcome } from '../../../src/store/recorder-options.ts';
import { Recorder } from '../../../src/store/recorder.ts';
import type { MeterStore, RequestRecord, StoreHealth, UsageQuery, UsageRow } from '../../../src/store/types.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { rec, T0 } from '../../contract/fixtures.ts';

/** MemoryStore behind a switch, counting concurrent writes. */
class SwitchStore implements MeterStore {
  readonly kind = 'memory' as const;
  readonly clock: ManualClock;
  readonly inner: MemoryStore;
  constructor(clock: ManualClock) {
    this.clock = clock;
    this.inner = new MemoryStore({ clock, bucketTtlSeconds: 3600, recordsMaxLen: 10_000 });
  }
  up = true;
  /** Writes never settle: a hung connection. */
  hang = false;
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  write(r: RequestRecord): Promise<void> {
    return this.writeBatch([r]);
  }
  /** Records per call, in call order. */
  batches: number[] = [];
  /** When each failed call failed, on the clock. */
  failedAt: number[] = [];
  async writeBatch(records: readonly RequestRecord[]): Promise<void> {
    this.batches.push(records.length);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hang) await new Promise<never>(() => {});
      if (this.delayMs > 0) await new Promise<void>((res) => this.clock.setTimeout(res, this.delayMs));
      if (!this.up) {
        this.failedAt.push(this.clock.now() - T0);
        throw new Error('connection refused');
      }
      await this.inner.writeBatch(records);
    } finally {
      this.inFlight -= 1;
    }
  }
  query(q: UsageQuery): Promise<UsageRow[]> {
    return this.inner.query(q);
  }
  recent(limit: number): Promise<RequestRecord[]> {
    return this.inner.recent(limit);
  }
  saveKeyHint(keyId: string, hint: string): Promise<boolean> {
    return this.inner.saveKeyHint(keyId, hint);
  }
  keyHints(): Promise<Map<string, string>> {
    return this.inner.keyHints();
  }
  async health(): Promise<StoreHealth> {
    return { kind: 'memory', reachable: this.up };
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function setup(t: { after(fn: () => unknown): void }, opts: Partial<RecorderOptions> = {}) {
  const clock = new ManualClock(T0);
  const store = new SwitchStore(clock);
  const lines: string[] = [];
  const keep = (level: string) => (_: object, msg?: string) => void lines.push(`${level}: ${msg ?? ''}`);
  const logger: Logger = { info: keep('info'), warn: keep('warn'), error: keep('error'), debug: () => {} };
  const outcomes: RecorderOutcome[] = [];
  const recorder = new Recorder({
    store,
    logger,
    clock,
    journalMaxRecords: 1_000,
    retryInitialMs: 5,
    retryMaxMs: 20,
    closeTimeoutMs: 200,
    onOutcome: (outcome, n) => {
      for (let i = 0; i < n; i++) outcomes.push(outcome);
    },
    ...opts,
  });
  t.after(() => clock.until(recorder.close()));
  return { clock, store, recorder, lines, outcomes };
}

/** Fires timers until `cond` holds. */
async function until(clock: ManualClock, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await clock.next();
  assert.ok(cond(), 'condition not reached in 500 timers');
}

test('record() is synchronous and bounded: at most `concurrency` store calls in flight, at most batchMax records each', async (t) => {
  const { clock, store, recorder } = setup(t, { concurrency: 4, batchMax: 10 });
  store.delayMs = 2;
  for (let i = 0; i < 100; i++) assert.equal(recorder.record(rec()), undefined);
  assert.equal(recorder.stats().pending, 100);
  await clock.until(recorder.flush());
  assert.equal(store.maxInFlight, 4);
  assert.deepEqual(store.batches, Array(10).fill(10));
  assert.deepEqual(recorder.stats(), { pending: 0, journaled: 0, dropped: 0, written: 100, failures: 0 });
});

test('group commit: records arriving while a call is in flight leave together when it returns', async (t) => {
  const { clock, store, recorder } = setup(t, { concurrency: 1, lingerMs: 1 });
  store.delayMs = 30;
  recorder.record(rec());
  await clock.advance(1);
  assert.equal(store.inFlight, 1, 'the first record left alone after the linger');
  for (let i = 0; i < 25; i++) recorder.record(rec());
  await clock.until(recorder.flush());
  assert.deepEqual(store.batches, [1, 25]);
  assert.equal(recorder.stats().written, 26);
});

test('an idle record is written after lingerMs, not held for company', async (t) => {
  const { clock, store, recorder } = setup(t, { lingerMs: 20 });
  const started = clock.now();
  recorder.record(rec());
  assert.equal(store.batches.length, 0, 'not sent synchronously');
  await clock.advance(19);
  assert.equal(store.batches.length, 0, 'held for the linger');
  await clock.until(recorder.flush());
  const took = clock.now() - started;
  assert.deepEqual(store.batches, [1]);
  assert.equal(took, 20, `written after ${took} ms`);
});

test('an outage is logged once down and once up; the journal replays in record() order', async (t) => {
  const { clock, store, recorder, lines, outcomes } = setup(t, { concurrency: 1 });
  store.up = false;
  const all = Array.from({ length: 50 }, () => rec());
  for (const r of all) recorder.record(r);
  await clock.until(recorder.flush());
  await until(clock, () => recorder.stats().failures >= 5 * 50); // the direct write, then failed replays
  assert.equal(recorder.stats().journaled, 50);
  // The linger (20 ms), then replays 5 ms after, doubling up to retryMaxMs 20.
  assert.deepEqual(store.failedAt, [20, 25, 35, 55, 75]);
  store.up = true;
  await until(clock, () => recorder.stats().journaled === 0 && recorder.stats().pending === 0);
  assert.deepEqual(lines, ['warn: meter store unreachable; journaling records until it answers', 'info: meter store reachable again']);
  assert.deepEqual(
    (await store.recent(100)).map((r) => r.id),
    all.map((r) => r.id).reverse(),
  );
  assert.equal(outcomes.filter((o) => o === 'replayed').length, 50);
  assert.equal(outcomes.filter((o) => o === 'journaled').length, 50);
});

test('invalid records are dropped and counted, never journaled', async (t) => {
  const { recorder, lines } = setup(t);
  recorder.record(rec({ costPicoUsd: 0.5 }));
  await recorder.flush();
  assert.deepEqual(recorder.stats(), { pending: 0, journaled: 0, dropped: 1, written: 0, failures: 0 });
  assert.equal(lines.length, 1);
});

test('a throwing onOutcome callback does not break recording', async (t) => {
  const { clock, recorder } = setup(t, {
    onOutcome: () => {
      throw new Error('metrics bug');
    },
  });
  recorder.record(rec());
  await clock.until(recorder.flush());
  assert.equal(recorder.stats().written, 1);
});

test('close() drains the journal when the store is back, and drops records that arrive after', async (t) => {
  const { clock, store, recorder } = setup(t, { retryInitialMs: 60_000 });
  store.up = false;
  for (let i = 0; i < 10; i++) recorder.record(rec());
  await clock.until(recorder.flush());
  store.up = true; // the next timed replay is a minute away: close() must not wait for it
  const before = clock.now();
  await recorder.close();
  assert.equal(clock.now(), before, 'closed without waiting for any timer');
  assert.equal((await store.recent(100)).length, 10);
  recorder.record(rec());
  assert.equal(recorder.stats().dropped, 1);
});

test('close() returns at its deadline while writes hang, and says what is unsaved', async (t) => {
  const { clock, store, recorder, lines } = setup(t, { closeTimeoutMs: 100 });
  store.hang = true;
  for (let i = 0; i < 40; i++) recorder.record(rec());
  let closed = false;
  const closing = recorder.close().then(() => (closed = true));
  await clock.advance(99);
  assert.equal(closed, false, 'it tries until the deadline');
  await clock.advance(1);
  await closing;
  assert.ok(lines.some((l) => l.includes('recorder closed with records not written')));
});
