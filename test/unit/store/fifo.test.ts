import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo } from '../../../src/store/fifo.ts';

test('Fifo: bounded, evicts the oldest, insertSorted finds its place from the head', () => {
  const f = new Fifo<number>(3);
  assert.deepEqual(
    [1, 2, 3].flatMap((n) => f.push(n)),
    [],
  );
  assert.deepEqual(f.push(4), [1]);
  assert.deepEqual(f.newest(10), [4, 3, 2]);
  assert.deepEqual(f.shiftMany(2), [2, 3]);
  const id = (x: number) => x;
  assert.deepEqual([f.insertSorted(3, id), f.insertSorted(1, id)], [[], []]);
  assert.deepEqual(f.insertSorted(5, id), [1], 'overflow drops from the head: the oldest');
  assert.deepEqual(f.insertSorted(0, id), [0], 'even when that is the item just inserted');
  assert.deepEqual(f.shiftMany(10), [3, 4, 5]);
  assert.equal(f.shift(), undefined);
  for (let i = 0; i < 5_000; i++) f.push(i);
  for (let i = 0; i < 4_000; i++) f.shift();
  assert.equal(f.length, 0);
  assert.throws(() => new Fifo(0), RangeError);
});
