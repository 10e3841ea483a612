/**
 * Recorder behaviour with an in-process store that can be switched off: ordering,
 * bounded concurrency, logging once per outage, close() semantics. No sockets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../../../src/lib/logger.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import type { RecorderOptions, RecorderOutcome } from '../../../src/store/recorder-options.ts';
import { Recorder } from '../../../src/store/recorder.ts';
import type { MeterStore, RequestRecord, StoreHealth, UsageQuery, UsageRow } from '../../../src/store/types.ts';
import { rec, TestClock } from '../../contract/fixtures.ts';

/** MemoryStore behind a switch, counting concurrent writes. */
class SwitchStore implements MeterStore {
  readonly kind = 'memory' as const;
  readonly inner = new MemoryStore({ clock: new TestClock(), bucketTtlSeconds: 3600, recordsMaxLen: 10_000 });
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
  async writeBatch(records: readonly RequestRecord[]): Promise<void> {
    this.batches.push(records.length);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hang) await new Promise<never>(() => {});
      if (this.delayMs > 0) await new Promise((res) => setTimeout(res, this.delayMs));
      if (!this.up) throw new Error('connection refused');
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
  async health(): Promise<StoreHealth> {
    return { kind: 'memory', reachable: this.up };
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function setup(t: { after(fn: () => unknown): void }, opts: Partial<RecorderOptions> = {}) {
  const store = new SwitchStore();
  const lines: string[] = [];
  const keep = (level: string) => (_: object, msg?: string) => void lines.push(`${level}: ${msg ?? ''}`);
  const logger: Logger = { info: keep('info'), warn: keep('warn'), error: keep('error'), debug: () => {} };
  const outcomes: RecorderOutcome[] = [];
  const recorder = new Recorder({
    store,
    logger,
    journalMaxRecords: 1_000,
    retryInitialMs: 5,
    retryMaxMs: 20,
    closeTimeoutMs: 200,
    onOutcome: (outcome, n) => {
      for (let i = 0; i < n; i++) outcomes.push(outcome);
    },
    ...opts,
  });
  t.after(() => recorder.close());
  return { store, recorder, lines, outcomes };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached in 2.5 s');
}

test('record() is synchronous and bounded: at most `concurrency` store calls in flight, at most batchMax records each', async (t) => {
  const { store, recorder } = setup(t, { concurrency: 4, batchMax: 10 });
  store.delayMs = 2;
  for (let i = 0; i < 100; i++) assert.equal(recorder.record(rec()), undefined);
  assert.equal(recorder.stats().pending, 100);
  await recorder.flush();
  assert.equal(store.maxInFlight, 4);
  assert.deepEqual(store.batches, Array(10).fill(10));
  assert.deepEqual(recorder.stats(), { pending: 0, journaled: 0, dropped: 0, written: 100, failures: 0 });
});

test('group commit: records arriving while a call is in flight leave together when it returns', async (t) => {
  const { store, recorder } = setup(t, { concurrency: 1, lingerMs: 1 });
  store.delayMs = 30;
  recorder.record(rec());
  await until(() => store.inFlight === 1); // the first record left alone after the linger
  for (let i = 0; i < 25; i++) recorder.record(rec());
  await recorder.flush();
  assert.deepEqual(store.batches, [1, 25]);
  assert.equal(recorder.stats().written, 26);
});

test('an idle record is written after lingerMs, not held for company', async (t) => {
  const { store, recorder } = setup(t, { lingerMs: 20 });
  const started = performance.now();
  recorder.record(rec());
  assert.equal(store.batches.length, 0, 'not sent synchronously');
  await recorder.flush();
  const took = performance.now() - started;
  assert.deepEqual(store.batches, [1]);
  assert.ok(took >= 15 && took < 1_000, `written after ${took} ms`);
});

test('an outage is logged once down and once up; the journal replays in record() order', async (t) => {
  const { store, recorder, lines, outcomes } = setup(t, { concurrency: 1 });
  store.up = false;
  const all = Array.from({ length: 50 }, () => rec());
  for (const r of all) recorder.record(r);
  await recorder.flush();
  await until(() => recorder.stats().failures >= 4); // the direct write, then failed replays
  assert.equal(recorder.stats().journaled, 50);
  store.up = true;
  await until(() => recorder.stats().journaled === 0 && recorder.stats().pending === 0);
  assert.deepEqual(lines, ['warn: meter store unreachable; journaling records until it answers', 'info: meter store reachable again']);
  assert.deepEqual((await store.recent(100)).map((r) => r.id), all.map((r) => r.id).reverse());
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
  const { recorder } = setup(t, {
    onOutcome: () => {
      throw new Error('metrics bug');
    },
  });
  recorder.record(rec());
  await recorder.flush();
  assert.equal(recorder.stats().written, 1);
});

test('close() drains the journal when the store is back, and drops records that arrive after', async (t) => {
  const { store, recorder } = setup(t, { retryInitialMs: 60_000 });
  store.up = false;
  for (let i = 0; i < 10; i++) recorder.record(rec());
  await recorder.flush();
  store.up = true; // the next timed replay is a minute away: close() must not wait for it
  await recorder.close();
  assert.equal((await store.recent(100)).length, 10);
  recorder.record(rec());
  assert.equal(recorder.stats().dropped, 1);
});

test('close() returns at its deadline while writes hang, and says what is unsaved', async (t) => {
  const { store, recorder, lines } = setup(t, { closeTimeoutMs: 100 });
  store.hang = true;
  for (let i = 0; i < 40; i++) recorder.record(rec());
  const started = Date.now();
  await recorder.close();
  assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
  assert.ok(lines.some((l) => l.includes('recorder closed with records not written')));
});
