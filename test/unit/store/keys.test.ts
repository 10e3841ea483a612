import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordDeltas, tokenCounts } from '../../../src/store/buckets.ts';
import fc from 'fast-check';
import { decodeEvent, encodeEvent, EVENT_FIELDS } from '../../../src/store/event-codec.ts';
import type { RequestRecord } from '../../../src/store/types.ts';
import { Fifo } from '../../../src/store/fifo.ts';
import {
  dimensionValue,
  hourStartsInRange,
  hourStartSec,
  keySchema,
  minuteOfHour,
  minuteStart,
  parseBucketField,
} from '../../../src/store/keys.ts';
import { HOUR, MIN, rec, T0, usage } from '../../contract/fixtures.ts';

test('keySchema: every key carries the prefix as a Cluster hash tag', () => {
  const k = keySchema();
  assert.equal(k.events, '{cm}:events');
  assert.equal(k.agg('tag', 1736935200), '{cm}:agg:tag:1736935200');
  assert.equal(k.seen(1736935200), '{cm}:seen:1736935200');
  assert.equal(keySchema('prod').events, '{prod}:events');
  assert.equal(keySchema('app:{m}').events, 'app:{m}:events', 'an explicit tag is kept');
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
  assert.deepEqual(parseBucketField('5|req|a|b:c'), { minute: 5, metric: 'req', value: 'a|b:c' });
  assert.deepEqual(parseBucketField('59|cost|'), { minute: 59, metric: 'cost', value: '' });
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

test('cache writes: the part outside the 5m/1h split counts as 5m, never negative', () => {
  const t = (c: number, c5: number | null, c1: number | null) =>
    tokenCounts(usage({ cacheCreation: c, cacheCreation5m: c5, cacheCreation1h: c1 }));
  assert.deepEqual([t(100, null, null).cache_creation_5m, t(100, null, null).cache_creation_1h], [100, 0]);
  assert.deepEqual([t(100, 30, 50).cache_creation_5m, t(100, 30, 50).cache_creation_1h], [50, 50]);
  assert.deepEqual([t(100, null, 100).cache_creation_5m, t(100, null, 100).cache_creation_1h], [0, 100]);
  assert.deepEqual([t(10, 30, 50).cache_creation_5m, t(10, 30, 50).cache_creation_1h], [30, 50]);
});

test('recordDeltas omits zero counters and always counts the request', () => {
  assert.deepEqual(recordDeltas(rec({ usage: null, usageMissing: 'no_usage_field', costPicoUsd: 0 })), [
    ['req', 1],
    ['miss', 1],
  ]);
  assert.deepEqual(recordDeltas(rec({ status: 500, usage: usage({ input: 3, output: 0 }), costPicoUsd: 9 })), [
    ['req', 1],
    ['err', 1],
    ['in', 3],
    ['cost', 9],
  ]);
});

test('event codec round-trips records, keeping null distinct from empty string', () => {
  const cases = [
    rec(),
    rec({ model: null, tag: '', usage: null, usageMissing: 'upstream_unreachable', ttftMs: null, messageId: null }),
    rec({ model: '', tag: 'a|b', latencyMs: 0.125, ttftMs: 3.5, usage: usage({ cacheCreation5m: 1, cacheCreation1h: 2 }) }),
  ];
  for (const r of cases) assert.deepEqual(decodeEvent(encodeEvent(r)), r);
  assert.equal(encodeEvent(rec()).length, 2, 'one stream field per event');
  assert.equal(encodeEvent(rec())[0], 'v2');
  const v2 = (patch: Record<number, unknown>) => {
    const arr = JSON.parse(encodeEvent(rec())[1]) as unknown[];
    for (const [i, x] of Object.entries(patch)) arr[Number(i)] = x;
    return ['v2', JSON.stringify(arr)];
  };
  assert.equal(decodeEvent(['id', 'x']), null, 'missing required fields');
  assert.equal(decodeEvent(v2({ 10: 'not_a_reason' })), null);
  assert.equal(decodeEvent(v2({ 9: ['1', 2, 0, null, null, 0, 0, 0, null, null, null] })), null, 'a usage count that is not a number');
  assert.equal(decodeEvent(v2({ 9: { input: 1 } })), null, 'v2 usage must be an array');
  assert.equal(decodeEvent(v2({ 0: null })), null, 'no id');
  assert.equal(decodeEvent(['v2', '{not json']), null);
  assert.equal(decodeEvent(['v2', '{"id":"x"}']), null, 'not an array');
});

/** The v1 form (written before v2): the same array with the usage as an object. */
function v1Of(r: RequestRecord): [string, string] {
  const byField: Record<string, unknown> = { ...r, stream: r.stream ? 1 : 0, partial: r.partial ? 1 : 0, unpriced: r.unpriced ? 1 : 0, free: r.free ? 1 : 0 };
  return ['v1', JSON.stringify(EVENT_FIELDS.map((k) => byField[k]))];
}

test('event codec still reads v1 entries (usage as an object)', () => {
  for (const r of [rec(), rec({ usage: null, usageMissing: 'error_status', model: null }), rec({ usage: usage({ cacheCreation: 3, cacheCreation5m: 1, cacheCreation1h: 2 }) })]) {
    assert.deepEqual(decodeEvent(v1Of(r)), r);
  }
  const bad = JSON.parse(v1Of(rec())[1]) as unknown[];
  bad[9] = { input: '1' };
  assert.equal(decodeEvent(['v1', JSON.stringify(bad)]), null);
});

const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '"', '\\', '\u2028', '\ud800', 'a"b\\c\n\t\u0000'));
// -0 is left out: JSON has no negative zero (it reads back as 0, which no record holds anyway).
const number = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)), fc.constantFrom(0, 1e21, 1e-7, 5e-324));
const recordArb = fc.record({
  id: text,
  ts: number,
  method: text,
  path: text,
  model: fc.option(text, { nil: null }),
  keyId: text,
  tag: text,
  status: number,
  stream: fc.boolean(),
  usage: fc.option(
    fc.record({
      input: number,
      output: number,
      cacheCreation: number,
      cacheCreation5m: fc.option(number, { nil: null }),
      cacheCreation1h: fc.option(number, { nil: null }),
      cacheRead: number,
      webSearchRequests: number,
      webFetchRequests: number,
      serviceTier: fc.option(text, { nil: null }),
      inferenceGeo: fc.option(text, { nil: null }),
      speed: fc.option(text, { nil: null }),
    }),
    { nil: null },
  ),
  usageMissing: fc.constantFrom(null, 'error_status', 'no_usage_field'),
  partial: fc.boolean(),
  costPicoUsd: number,
  unpriced: fc.boolean(),
  free: fc.boolean(),
  latencyMs: number,
  ttftMs: fc.option(number, { nil: null }),
  upstreamLatencyMs: fc.option(number, { nil: null }),
  errorType: fc.option(text, { nil: null }),
  messageId: fc.option(text, { nil: null }),
})
  // fc.record builds null-prototype objects; records are plain ones.
  .map((r) => ({ ...r, usage: r.usage === null ? null : { ...r.usage } })) as fc.Arbitrary<RequestRecord>;

test('v2 round-trips any record: strings with quotes, escapes, lone surrogates and control characters; any finite number', () => {
  fc.assert(
    fc.property(recordArb, (r) => {
      assert.deepEqual(decodeEvent(encodeEvent(r)), r);
    }),
    { numRuns: 2000 },
  );
});

test('event codec still reads the older flat form (one stream field per record field)', () => {
  const u = usage({ cacheCreation5m: 1, cacheCreation1h: 2 });
  const r = rec({ usage: u, ttftMs: null, tag: '' });
  const flat = [
    'id', r.id, 'ts', String(r.ts), 'method', r.method, 'path', r.path, 'model', String(r.model), 'keyId', r.keyId, 'tag', '',
    'status', String(r.status), 'stream', r.stream ? '1' : '0', 'usage', JSON.stringify(u), 'partial', '0',
    'costPicoUsd', String(r.costPicoUsd), 'unpriced', '0', 'free', '0', 'latencyMs', String(r.latencyMs),
    'upstreamLatencyMs', String(r.upstreamLatencyMs), 'messageId', String(r.messageId),
  ];
  assert.deepEqual(decodeEvent(flat), r);
  assert.equal(decodeEvent([...flat, 'usageMissing', 'not_a_reason']), null);
  assert.equal(decodeEvent([...flat, 'usage', '{"input":"1"}']), null);
});

test('Fifo: bounded, evicts the oldest, insertSorted finds its place from the head', () => {
  const f = new Fifo<number>(3);
  assert.deepEqual([1, 2, 3].flatMap((n) => f.push(n)), []);
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
