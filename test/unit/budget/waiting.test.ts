/**
 * The waiting room on its own, on a ManualClock: one FIFO per key where only the head retries,
 * the wait and queue bounds, clients that leave, wake-ups, and the jittered poll that covers a
 * lost wake-up. Attempts are against a pool of room the test fills and drains.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { POLL_MS, WaitingRoom, type Attempt, type WaitRequest } from '../../../src/budget/waiting.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';

/** Room per key; an attempt takes `size` from its key's room or reports itself blocked there. */
function world(opts: { random?: () => number } = {}) {
  const clock = new ManualClock(0, opts);
  const depths: Array<[string, number]> = [];
  const room = new WaitingRoom<string>({ clock, onDepth: (label, depth) => depths.push([label, depth]) });
  const free = new Map<string, number>();
  /** Who attempted, in order. */
  const attempts: string[] = [];
  /** Answers, in the order they resolved. */
  const answers: string[] = [];
  const ask = (id: string, size: number, over: Partial<WaitRequest<string>> = {}): Promise<string> => {
    const key = over.key ?? 'k';
    const req: WaitRequest<string> = {
      key,
      label: 'cap',
      maxQueue: 16,
      maxWaitMs: 10_000,
      attempt: async (): Promise<Attempt<string>> => {
        attempts.push(id);
        const left = free.get(key) ?? 0;
        if (size > left) return { kind: 'blocked', key };
        free.set(key, left - size);
        return { kind: 'done', value: `admitted:${id}` };
      },
      expired: (how) => `${how}:${id}`,
      left: () => `left:${id}`,
      seenWakes: room.wakeCount(),
      ...over,
    };
    const answer = room.wait(req);
    void answer.then((a) => answers.push(a));
    return answer;
  };
  return { clock, room, free, attempts, answers, depths, ask };
}

test('FIFO: a newcomer that would fit queues behind the head, and only the head retries on a wake', async () => {
  const w = world();
  w.free.set('k', 1);
  const large = w.ask('large', 4);
  const small = w.ask('small', 1);
  await w.clock.advance(0);
  assert.deepEqual(w.attempts, [], 'joining is not an attempt: the caller made it before waiting');
  w.room.wake('k');
  await w.clock.advance(0);
  assert.deepEqual(w.attempts, ['large'], 'only the head tried, and the small one did not take the free room');
  assert.deepEqual(w.answers, []);
  w.free.set('k', 5);
  w.room.wake('k');
  assert.equal(await large, 'admitted:large');
  assert.equal(await small, 'admitted:small');
  assert.deepEqual(w.answers, ['admitted:large', 'admitted:small']);
  assert.deepEqual(w.attempts, ['large', 'large', 'small'], 'the new head tried at once, without another wake');
  assert.deepEqual(w.depths, [
    ['cap', 1],
    ['cap', 2],
    ['cap', 1],
    ['cap', 0],
  ]);
  assert.equal(w.room.idle, true);
  assert.equal(w.clock.pending, 0, 'no deadline or poll left armed');
});

test('a wake since the caller last tried (it may have been missed) makes the newcomer try at once', async () => {
  const w = world();
  const seen = w.room.wakeCount();
  w.room.noteWake(); // a settle between the caller's failed attempt and its joining
  w.free.set('k', 1);
  assert.equal(await w.ask('a', 1, { seenWakes: seen }), 'admitted:a');
  assert.deepEqual(w.attempts, ['a']);
});

test('a wake on another key leaves this queue alone', async () => {
  const w = world();
  w.free.set('k', 1);
  void w.ask('a', 1);
  w.room.wake('other');
  await w.clock.advance(0);
  assert.deepEqual(w.attempts, []);
  assert.equal(w.room.occupied('k'), true);
  assert.equal(w.room.occupied('other'), false);
  w.room.close();
});

test('max wait: the waiter gets its timeout answer at maxWaitMs, not before, and leaves the queue', async () => {
  const w = world();
  const a = w.ask('a', 1, { maxWaitMs: 1_000 });
  await w.clock.advance(999);
  assert.deepEqual(w.answers, []);
  assert.ok(w.attempts.length > 0, 'the poll made it retry meanwhile');
  await w.clock.advance(1);
  assert.equal(await a, 'timeout:a');
  assert.equal(w.room.occupied('k'), false);
  assert.deepEqual(w.depths.at(-1), ['cap', 0]);
  assert.equal(w.clock.pending, 0);
});

test('max queue: a request beyond it is answered queue_full at once; a freed place can be taken again', async () => {
  const w = world();
  const a = w.ask('a', 1, { maxQueue: 2 });
  void w.ask('b', 1, { maxQueue: 2 });
  assert.equal(await w.ask('c', 1, { maxQueue: 2 }), 'queue_full:c');
  assert.deepEqual(w.attempts, [], 'a refused newcomer never tries');
  w.free.set('k', 1);
  w.room.wake('k');
  assert.equal(await a, 'admitted:a');
  const d = w.ask('d', 1, { maxQueue: 2 });
  assert.equal(w.room.occupied('k'), true);
  w.room.close();
  assert.equal(await d, 'timeout:d', 'd got the place a left');
});

test('a client that leaves is answered left at once; the waiter behind it becomes head and tries without a wake', async () => {
  const w = world();
  w.free.set('k', 1);
  const ac = new AbortController();
  const leaver = w.ask('leaver', 2, { signal: ac.signal });
  const next = w.ask('next', 1);
  await w.clock.advance(0);
  assert.deepEqual(w.attempts, []);
  ac.abort();
  assert.equal(await leaver, 'left:leaver');
  assert.equal(await next, 'admitted:next');
  assert.deepEqual(w.attempts, ['next'], 'the leaver never tried again');
  assert.deepEqual(w.depths, [
    ['cap', 1],
    ['cap', 2],
    ['cap', 1],
    ['cap', 0],
  ]);
  const gone = new AbortController();
  gone.abort();
  assert.equal(await w.ask('late', 1, { signal: gone.signal }), 'left:late', 'already gone: never queued');
});

test('a lost wake-up: the head retries on the poll, about every POLL_MS, jittered ±50%', async () => {
  for (const [random, every] of [
    [0.5, POLL_MS],
    [0, POLL_MS / 2],
    [0.999, Math.round(POLL_MS * 1.499)],
  ] as const) {
    const w = world({ random: () => random });
    const a = w.ask('a', 1);
    w.free.set('k', 1); // room came back, but nobody says so
    await w.clock.advance(every - 1);
    assert.deepEqual(w.attempts, [], `random ${random}: no retry before ${every} ms`);
    await w.clock.advance(1);
    assert.deepEqual(w.attempts, ['a'], `random ${random}: a retry at ${every} ms`);
    assert.equal(await a, 'admitted:a');
    assert.equal(w.clock.pending, 0, 'the poll stops when nobody waits');
  }
});

test('the poll keeps going while anyone waits: each tick retries every head once', async () => {
  const w = world();
  void w.ask('a', 1, { key: 'x' });
  void w.ask('b', 1, { key: 'y' });
  void w.ask('c', 1, { key: 'y' });
  for (let i = 0; i < 3; i++) await w.clock.advance(POLL_MS);
  assert.deepEqual(w.attempts, ['a', 'b', 'a', 'b', 'a', 'b']);
  w.room.close();
});

test('close() answers every waiter with its timeout at once and disarms every timer', async () => {
  const w = world();
  const all = [w.ask('a', 1), w.ask('b', 1), w.ask('c', 1, { key: 'other' })];
  await w.clock.advance(0);
  w.room.close();
  assert.deepEqual(await Promise.all(all), ['timeout:a', 'timeout:b', 'timeout:c']);
  assert.equal(w.clock.pending, 0);
  assert.equal(w.room.idle, true);
});

test('a deadline that passes while the head is trying: the attempt decides, then the timeout applies', async () => {
  const w = world();
  let release!: (a: Attempt<string>) => void;
  const a = w.ask('a', 1, {
    maxWaitMs: 100,
    attempt: () => new Promise<Attempt<string>>((resolve) => (release = resolve)),
  });
  w.room.wake('k');
  await w.clock.advance(100);
  assert.deepEqual(w.answers, [], 'not answered while its attempt runs');
  release({ kind: 'done', value: 'admitted:a' });
  assert.equal(await a, 'admitted:a', 'an admission won by the attempt stands');

  const b = w.ask('b', 1, { maxWaitMs: 100, attempt: () => new Promise<Attempt<string>>((resolve) => (release = resolve)) });
  w.room.wake('k');
  await w.clock.advance(100);
  release({ kind: 'blocked', key: 'k' });
  assert.equal(await b, 'timeout:b', 'still blocked: the deadline that passed answers');
});

test('an attempt that throws ends that wait with its timeout answer, and the queue goes on', async () => {
  const w = world();
  w.free.set('k', 1);
  const a = w.ask('a', 1, { attempt: () => Promise.reject(new Error('bug')) });
  const b = w.ask('b', 1);
  w.room.wake('k');
  assert.equal(await a, 'timeout:a');
  assert.equal(await b, 'admitted:b');
});

test('a head now blocked on another key moves to that queue, behind its waiters', async () => {
  const w = world();
  w.free.set('k', 5);
  const early = w.ask('early', 1, { key: 'j' });
  let first = true;
  const mover = w.ask('mover', 1, {
    attempt: async (): Promise<Attempt<string>> => {
      w.attempts.push('mover');
      if (!first) return { kind: 'done', value: 'admitted:mover' };
      first = false;
      return { kind: 'blocked', key: 'j' };
    },
  });
  w.room.wake('k');
  await w.clock.advance(0);
  assert.equal(w.room.occupied('k'), false);
  w.free.set('j', 1);
  w.room.wake('j');
  assert.equal(await early, 'admitted:early');
  assert.equal(await mover, 'admitted:mover');
  assert.deepEqual(w.answers, ['admitted:early', 'admitted:mover']);
});
