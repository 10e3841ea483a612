/**
 * The settle queue on its own, on a ManualClock, against a store the test switches off and on:
 * settles run at once when the store answers; when it does not they queue in order (no
 * coalescing: the store's settle is idempotent by id), retry with capped exponential backoff,
 * drop the oldest beyond the bound, and get one last attempt at close().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RETRY_INITIAL_MS, RETRY_MAX_MS, SettleQueue, type PendingSettle } from '../../../src/budget/settle-queue.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import type { Logger } from '../../../src/lib/logger.ts';

const settle = (id: string): PendingSettle => ({ refs: [], budgets: [], id, actual: { money: { currency: 'USD', pico: 1 }, tokens: 1 } });

function world(opts: { maxPending?: number } = {}) {
  const clock = new ManualClock(0);
  const lines: string[] = [];
  const keep = (level: string) => (_: object, msg?: string) => void lines.push(`${level}: ${msg ?? ''}`);
  const logger: Logger = { info: keep('info'), warn: keep('warn'), error: keep('error'), debug: () => {} };
  const store = {
    up: true,
    /** Every run: id, clock time, whether it succeeded. */
    runs: [] as Array<{ id: string; at: number; ok: boolean }>,
    /** Ids whose settle the store applied. */
    applied: [] as string[],
    /** When set, runs wait for it (a slow store). */
    hold: null as Promise<void> | null,
  };
  const run = async (p: PendingSettle): Promise<void> => {
    const at = clock.now();
    if (store.hold) await store.hold;
    store.runs.push({ id: p.id, at, ok: store.up });
    if (!store.up) throw new Error('ECONNREFUSED');
    store.applied.push(p.id);
  };
  const queue = new SettleQueue({ run, logger, clock, ...(opts.maxPending === undefined ? {} : { maxPending: opts.maxPending }) });
  const failedAt = () => store.runs.filter((r) => !r.ok).map((r) => r.at);
  return { clock, lines, store, queue, failedAt };
}

test('with the store up a settle runs at once and nothing is queued or armed', async () => {
  const w = world();
  w.queue.push(settle('a'));
  await w.queue.flush();
  assert.deepEqual(w.store.applied, ['a']);
  assert.deepEqual(w.queue.stats(), { pending: 0, dropped: 0 });
  assert.equal(w.clock.pending, 0);
  assert.deepEqual(w.lines, []);
});

test('store down: retries after 250 ms, doubling to a 10 s cap; the first success drains the queue in order and resets the backoff', async () => {
  const w = world();
  w.store.up = false;
  w.queue.push(settle('a'));
  await w.clock.advance(0);
  assert.deepEqual(w.queue.stats(), { pending: 1, dropped: 0 });
  w.queue.push(settle('b'));
  for (let i = 0; i < 8; i++) await w.clock.next();
  const gaps = w
    .failedAt()
    .slice(1)
    .map((at, i) => at - w.failedAt()[i]!);
  assert.deepEqual(gaps, [RETRY_INITIAL_MS, 500, 1_000, 2_000, 4_000, 8_000, RETRY_MAX_MS, RETRY_MAX_MS]);
  assert.deepEqual(new Set(w.store.runs.map((r) => r.id)), new Set(['a']), 'only the head is retried');
  w.store.up = true;
  await w.clock.next();
  assert.deepEqual(w.store.applied, ['a', 'b']);
  assert.deepEqual(w.queue.stats(), { pending: 0, dropped: 0 });
  assert.deepEqual(w.lines, [
    'error: budget store unreachable: settles are queued and retried',
    'info: budget store reachable again: queued settles applied',
  ]);
  assert.equal(w.clock.pending, 0, 'no retry left armed');

  // The next outage starts over from the initial delay.
  w.store.up = false;
  w.queue.push(settle('c'));
  await w.clock.advance(0);
  const down = w.clock.now();
  w.store.up = true;
  await w.clock.next();
  assert.equal(w.clock.now() - down, RETRY_INITIAL_MS);
  assert.deepEqual(w.store.applied, ['a', 'b', 'c']);
});

test('while settles are queued a new one queues behind them, even once the store answers again', async () => {
  const w = world();
  w.store.up = false;
  w.queue.push(settle('a'));
  await w.clock.advance(0);
  w.store.up = true;
  w.queue.push(settle('b'));
  await w.queue.flush();
  assert.deepEqual(w.store.applied, [], 'b did not overtake a');
  await w.clock.advance(RETRY_INITIAL_MS);
  assert.deepEqual(w.store.applied, ['a', 'b']);
});

test('bounded: beyond maxPending the oldest queued settle is dropped and counted', async () => {
  const w = world({ maxPending: 3 });
  w.store.up = false;
  w.queue.push(settle('a'));
  await w.clock.advance(0);
  for (const id of ['b', 'c', 'd', 'e']) w.queue.push(settle(id));
  assert.deepEqual(w.queue.stats(), { pending: 3, dropped: 2 });
  w.store.up = true;
  await w.clock.next();
  assert.deepEqual(w.store.applied, ['c', 'd', 'e']);
});

test('flush() waits for the settles in flight, not for the queued ones', async () => {
  const w = world();
  let release!: () => void;
  w.store.hold = new Promise((resolve) => (release = resolve));
  w.queue.push(settle('a'));
  let flushed = false;
  const flushing = w.queue.flush().then(() => (flushed = true));
  await w.clock.advance(0);
  assert.equal(flushed, false);
  release();
  await flushing;
  assert.deepEqual(w.store.applied, ['a']);

  w.store.hold = null;
  w.store.up = false;
  w.queue.push(settle('b'));
  await w.queue.flush();
  assert.deepEqual(w.queue.stats(), { pending: 1, dropped: 0 }, 'b failed and stays queued');
  await w.queue.close();
});

test('close() makes one last attempt at once: applied when the store is back, else logged as lost; no retry after', async () => {
  const back = world();
  back.store.up = false;
  back.queue.push(settle('a'));
  await back.clock.advance(0);
  back.store.up = true;
  await back.queue.close();
  assert.equal(back.clock.now(), 0, 'without waiting for the retry timer');
  assert.deepEqual(back.store.applied, ['a']);
  assert.equal(back.clock.pending, 0);

  const gone = world();
  gone.store.up = false;
  gone.queue.push(settle('a'));
  await gone.clock.advance(0);
  await gone.queue.close();
  assert.equal(gone.lines.at(-1), 'error: budget settles lost at shutdown: store unreachable');
  assert.equal(gone.clock.pending, 0, 'the failed last attempt armed no retry');
  assert.deepEqual(gone.failedAt(), [0, 0]);
});

test('a retry slower than the backoff is not overlapped by the next: a settle queued meanwhile is applied, not shifted off unrun', async () => {
  const w = world();
  w.store.up = false;
  w.queue.push(settle('a'));
  await w.clock.advance(0);
  w.store.up = true;
  let release!: () => void;
  w.store.hold = new Promise((resolve) => (release = resolve));
  await w.clock.advance(RETRY_INITIAL_MS); // the retry of a starts, and hangs
  w.queue.push(settle('b')); // queued behind a: it arms a timer while the retry runs
  await w.clock.advance(RETRY_INITIAL_MS);
  release();
  w.store.hold = null;
  await w.clock.advance(RETRY_MAX_MS);
  assert.deepEqual(w.store.applied, ['a', 'b']);
  assert.deepEqual(w.queue.stats(), { pending: 0, dropped: 0 });
});
