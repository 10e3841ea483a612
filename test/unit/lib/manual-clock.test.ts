/** ManualClock: the time of the tests and the simulator moves, and fires timers, only when told. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/lib/manual-clock.ts';

test('timers fire in due order, ties in the order armed, each with now() at its due time', async () => {
  const clock = new ManualClock(1_000);
  const fired: string[] = [];
  const at = (name: string) => () => void fired.push(`${name}@${clock.now()}`);
  clock.setTimeout(at('c'), 30);
  clock.setTimeout(at('a'), 10);
  clock.setTimeout(at('b1'), 20);
  clock.setTimeout(at('b2'), 20);
  assert.equal(clock.pending, 4);
  assert.equal(clock.nextAt(), 1_010);
  await clock.advance(19);
  assert.deepEqual(fired, ['a@1010']);
  assert.equal(clock.now(), 1_019);
  await clock.advanceTo(1_030);
  assert.deepEqual(fired, ['a@1010', 'b1@1020', 'b2@1020', 'c@1030']);
  assert.equal(clock.pending, 0);
  assert.equal(clock.nextAt(), null);
});

test('a cleared timer never fires; a delay under 1 ms is 1 ms, as in Node', async () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  const h = clock.setTimeout(() => fired.push('cleared'), 5);
  clock.setTimeout(() => fired.push('zero'), 0);
  assert.equal(h.unref(), h);
  clock.clearTimeout(h);
  clock.clearTimeout(h); // twice is harmless
  await clock.advance(0);
  assert.deepEqual(fired, [], 'a 0 ms timer does not fire at this instant');
  await clock.advance(10);
  assert.deepEqual(fired, ['zero']);
});

test('a timer armed by a firing one fires in the same advance when it falls due in it', async () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const tick = (): void => {
    fired.push(clock.now());
    if (fired.length < 10) clock.setTimeout(tick, 25);
  };
  clock.setTimeout(tick, 25);
  await clock.advance(100);
  assert.deepEqual(fired, [25, 50, 75, 100]);
});

test('every(): periodic, keeping its place among timers due at the same instant', async () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const loop = clock.every(10, 0, (t) => void fired.push(`loop@${t}`));
  clock.setTimeout(() => fired.push(`once@${clock.now()}`), 20);
  await clock.advanceTo(30);
  assert.deepEqual(fired, ['loop@0', 'loop@10', 'loop@20', 'once@20', 'loop@30']);
  clock.clearTimeout(loop);
  await clock.advance(100);
  assert.equal(fired.length, 5);
  assert.throws(() => clock.every(10, 0, () => {}), RangeError, 'a first firing in the past');
});

test("a callback's promise is awaited before the next timer; work a callback starts settles before time moves on", async () => {
  const clock = new ManualClock(0);
  const log: string[] = [];
  clock.setTimeout(async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
    log.push(`slow done@${clock.now()}`);
  }, 10);
  clock.setTimeout(() => {
    void (async () => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
      log.push(`started work done@${clock.now()}`);
    })();
  }, 10);
  clock.setTimeout(() => log.push(`next@${clock.now()}`), 11);
  await clock.advance(11);
  assert.deepEqual(log, ['slow done@10', 'started work done@10', 'next@11']);
});

test('time moves forward only, and one advance at a time', async () => {
  const clock = new ManualClock(100);
  await assert.rejects(clock.advanceTo(99), RangeError);
  clock.setTimeout(() => {}, 5);
  const first = clock.advance(10);
  await assert.rejects(clock.advance(10), /already advancing/);
  await first;
  assert.equal(clock.now(), 110);
  assert.equal(clock.monotonic(), 110, 'latency on this clock is simulated too');
});

test('next() jumps to the next timer; until() fires timers until a promise settles, and says when it never will', async () => {
  const clock = new ManualClock(0);
  assert.equal(await clock.next(), false);
  const late = new Promise<string>((resolve) => clock.setTimeout(() => resolve('late'), 5_000));
  assert.equal(await clock.next(), true);
  assert.equal(clock.now(), 5_000);
  assert.equal(await late, 'late');
  const chain = new Promise<number>((resolve) => clock.setTimeout(() => clock.setTimeout(() => resolve(clock.now()), 30), 20));
  assert.equal(await clock.until(chain), 5_050);
  await assert.rejects(clock.until(new Promise(() => {})), /no timer is armed/);
});

test('armed() resolves with the delay of a matching timer, already armed or armed later', async () => {
  const clock = new ManualClock(0);
  clock.setTimeout(() => {}, 1_000);
  assert.equal(await clock.armed(), 1_000);
  let heard: number | null = null;
  void clock.armed((d) => d < 1_000).then((d) => (heard = d));
  await clock.advance(0);
  assert.equal(heard, null, 'the 1 s timer does not match');
  clock.setTimeout(() => {}, 5);
  await clock.advance(0);
  assert.equal(heard, 5);
});

test('random() is 0.5 unless given: jitter lands mid-range, deterministically', () => {
  assert.equal(new ManualClock().random(), 0.5);
  const draws = [0.1, 0.9];
  const clock = new ManualClock(0, { random: () => draws.shift() ?? 0 });
  assert.deepEqual([clock.random(), clock.random(), clock.random()], [0.1, 0.9, 0]);
});
