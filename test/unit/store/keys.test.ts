import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dimensionValue,
  hourStartsInRange,
  hourStartSec,
  keySchema,
  minuteOfHour,
  minuteStart,
  parseBucketField,
} from '../../../src/store/keys.ts';
import { HOUR, MIN, rec, T0 } from '../../contract/fixtures.ts';

test('keySchema: every key carries the prefix as a Cluster hash tag', () => {
  const k = keySchema();
  assert.equal(k.records, '{cm}:events');
  assert.equal(k.agg('tag', 1736935200), '{cm}:agg:tag:1736935200');
  assert.equal(k.seen(1736935200), '{cm}:seen:1736935200');
  assert.equal(keySchema('prod').records, '{prod}:events');
  assert.equal(keySchema('app:{m}').records, 'app:{m}:events', 'an explicit tag is kept');
  for (const bad of ['', '{}', 'a{b', 'a{}b{c}']) assert.throws(() => keySchema(bad), RangeError, bad);
});

test('time bucketing is UTC minute / hour floors', () => {
  assert.equal(minuteStart(T0 + 59_999), T0);
  assert.equal(minuteStart(T0 - 1), T0 - MIN);
  assert.equal(hourStartSec(T0 + HOUR - 1), T0 / 1000);
  assert.equal(minuteOfHour(T0 + 59 * MIN + 59_999), 59);
  assert.equal(minuteOfHour(T0 + HOUR), 0);
  assert.deepEqual(hourStartsInRange(T0 + 30 * MIN, T0 + 2 * HOUR), [T0 / 1000, T0 / 1000 + 3600]);
  assert.deepEqual(hourStartsInRange(T0, T0 + 2 * HOUR + 1), [T0 / 1000, T0 / 1000 + 3600, T0 / 1000 + 7200]);
  assert.throws(() => hourStartsInRange(0, 10 * 365 * 24 * HOUR), RangeError);
});

test('parseBucketField splits on the first two | only', () => {
  assert.deepEqual(parseBucketField('5|req|a|b:c'), { minute: 5, counter: 'req', value: 'a|b:c' });
  assert.deepEqual(parseBucketField('59|cost|'), { minute: 59, counter: 'cost', value: '' });
  for (const bad of ['x|req|v', '60|req|v', '|req|v', '-1|req|v', '1.5|req|v', '3|req', 'plain']) {
    assert.equal(parseBucketField(bad), null, bad);
  }
});

test('dimension values: null model → unknown, empty tag → untagged', () => {
  const r = rec({ model: null, tag: '', keyId: 'kk' });
  assert.deepEqual(
    (['all', 'model', 'key', 'tag'] as const).map((d) => dimensionValue(d, r)),
    ['*', 'unknown', 'kk', 'untagged'],
  );
});
