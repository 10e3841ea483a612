import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeRecord, encodeRecord, RECORD_FIELDS } from '../../../src/store/record-codec.ts';
import type { RequestRecord } from '../../../src/store/types.ts';
import { rec, usage } from '../../contract/fixtures.ts';

test('record codec round-trips records, keeping null distinct from empty string', () => {
  const cases = [
    rec(),
    rec({ model: null, tag: '', usage: null, usageMissing: 'upstream_unreachable', ttftMs: null, messageId: null }),
    rec({ model: '', tag: 'a|b', latencyMs: 0.125, ttftMs: 3.5, usage: usage({ cacheCreation5m: 1, cacheCreation1h: 2 }) }),
  ];
  for (const r of cases) assert.deepEqual(decodeRecord(encodeRecord(r)), r);
  assert.equal(encodeRecord(rec()).length, 2, 'one stream field per record');
  assert.equal(encodeRecord(rec())[0], 'v2');
  const v2 = (patch: Record<number, unknown>) => {
    const arr = JSON.parse(encodeRecord(rec())[1]) as unknown[];
    for (const [i, x] of Object.entries(patch)) arr[Number(i)] = x;
    return ['v2', JSON.stringify(arr)];
  };
  assert.equal(decodeRecord(['id', 'x']), null, 'missing required fields');
  assert.equal(decodeRecord(v2({ 10: 'not_a_reason' })), null);
  assert.equal(decodeRecord(v2({ 9: ['1', 2, 0, null, null, 0, 0, 0, null, null, null] })), null, 'a usage count that is not a number');
  assert.equal(decodeRecord(v2({ 9: { input: 1 } })), null, 'v2 usage must be an array');
  assert.equal(decodeRecord(v2({ 0: null })), null, 'no id');
  assert.equal(decodeRecord(['v2', '{not json']), null);
  assert.equal(decodeRecord(['v2', '{"id":"x"}']), null, 'not an array');
});

test('a budget refusal recorded under its former reason name reads back as refused_by_budget', () => {
  const refused = rec({ status: 429, usage: null, usageMissing: 'refused_by_budget', costPicoUsd: 0 });
  const [field, json] = encodeRecord(refused);
  const arr = JSON.parse(json) as unknown[];
  assert.equal(arr[10], 'refused_by_budget');
  arr[10] = 'rejected_by_budget';
  assert.deepEqual(decodeRecord([field, JSON.stringify(arr)]), refused);
  assert.deepEqual(decodeRecord(v1Of({ ...refused, usageMissing: 'rejected_by_budget' as never })), refused);
});

/** The positions builds before upstreams and billing wrote (through `estimated`). */
const BEFORE_BILLING = RECORD_FIELDS.indexOf('estimated') + 1;

/** The v1 form (written before v2, and before billing): the same array with the usage as an object. */
function v1Of(r: RequestRecord): [string, string] {
  const byField: Record<string, unknown> = {
    ...r,
    stream: r.stream ? 1 : 0,
    partial: r.partial ? 1 : 0,
    estimated: r.estimated ? 1 : 0,
    unpriced: r.unpriced ? 1 : 0,
    free: r.free ? 1 : 0,
  };
  return ['v1', JSON.stringify(RECORD_FIELDS.slice(0, BEFORE_BILLING).map((k) => byField[k]))];
}

test('record codec round-trips the upstream, its currency and billed amount, and why usage was adjusted', () => {
  const cases = [
    rec({ upstream: 'holysheep', currency: 'CNY', costPicoUsd: 4_500, billedPico: 31_950, usageAdjusted: 'cached_above_prompt' }),
    rec({ upstream: 'relay|a:{b}', currency: 'EUR', unpriced: true, costPicoUsd: 0, billedPico: 0, billedUnpriced: true }),
    // Priced at list, billed at no known price: the two flags are independent.
    rec({ upstream: 'holysheep', currency: 'CNY', costPicoUsd: 4_500, billedPico: 0, billedUnpriced: true }),
    rec({ billedPico: Number.MAX_SAFE_INTEGER }),
  ];
  for (const r of cases) assert.deepEqual(decodeRecord(encodeRecord(r)), r);
  const arr = JSON.parse(encodeRecord(cases[0]!)[1]) as unknown[];
  assert.deepEqual(arr.slice(BEFORE_BILLING), ['holysheep', 'CNY', 31_950, 0, 'cached_above_prompt'], 'appended after the older positions');
  arr[RECORD_FIELDS.indexOf('billedPico')] = 'many';
  assert.equal(decodeRecord(['v2', JSON.stringify(arr)]), null, 'a billed amount that is not a number');
});

test('an entry written before upstreams and billing reads as the default upstream, billed its list price in USD', () => {
  for (const r of [
    rec({ costPicoUsd: 777 }),
    rec({ unpriced: true, costPicoUsd: 0 }),
    rec({ usage: null, usageMissing: 'error_status', status: 529, costPicoUsd: 0 }),
  ]) {
    const old = JSON.parse(encodeRecord(r)[1]) as unknown[];
    const decoded = decodeRecord(['v2', JSON.stringify(old.slice(0, BEFORE_BILLING))]);
    assert.deepEqual(decoded && [decoded.upstream, decoded.currency, decoded.billedPico, decoded.billedUnpriced, decoded.usageAdjusted], [
      'default',
      'USD',
      r.costPicoUsd,
      r.unpriced,
      null,
    ]);
    assert.deepEqual(decoded, r, 'the fixture bills like the default upstream, so the whole record reads back');
  }
});

test('record codec still reads v1 entries (usage as an object)', () => {
  for (const r of [
    rec(),
    rec({ usage: null, usageMissing: 'error_status', model: null }),
    rec({ usage: usage({ cacheCreation: 3, cacheCreation5m: 1, cacheCreation1h: 2 }) }),
  ]) {
    assert.deepEqual(decodeRecord(v1Of(r)), r);
  }
  const bad = JSON.parse(v1Of(rec())[1]) as unknown[];
  bad[9] = { input: '1' };
  assert.equal(decodeRecord(['v1', JSON.stringify(bad)]), null);
});

const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '"', '\\', '\u2028', '\ud800', 'a"b\\c\n\t\u0000'));
// -0 is left out: JSON has no negative zero (it reads back as 0, which no record holds anyway).
const number = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
  fc.constantFrom(0, 1e21, 1e-7, 5e-324),
);
const recordArb = fc
  .record({
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
    estimated: fc.boolean(),
    upstream: text,
    costPicoUsd: number,
    unpriced: fc.boolean(),
    currency: text,
    billedPico: number,
    billedUnpriced: fc.boolean(),
    usageAdjusted: fc.option(text, { nil: null }),
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
      assert.deepEqual(decodeRecord(encodeRecord(r)), r);
    }),
    { numRuns: 2000 },
  );
});

test('record codec still reads the older flat form (one stream field per record field)', () => {
  const u = usage({ cacheCreation5m: 1, cacheCreation1h: 2 });
  const r = rec({ usage: u, ttftMs: null, tag: '' });
  const flat = [
    'id',
    r.id,
    'ts',
    String(r.ts),
    'method',
    r.method,
    'path',
    r.path,
    'model',
    String(r.model),
    'keyId',
    r.keyId,
    'tag',
    '',
    'status',
    String(r.status),
    'stream',
    r.stream ? '1' : '0',
    'usage',
    JSON.stringify(u),
    'partial',
    '0',
    'costPicoUsd',
    String(r.costPicoUsd),
    'unpriced',
    '0',
    'free',
    '0',
    'latencyMs',
    String(r.latencyMs),
    'upstreamLatencyMs',
    String(r.upstreamLatencyMs),
    'messageId',
    String(r.messageId),
  ];
  assert.deepEqual(decodeRecord(flat), r);
  assert.equal(decodeRecord([...flat, 'usageMissing', 'not_a_reason']), null);
  assert.equal(decodeRecord([...flat, 'usage', '{"input":"1"}']), null);
});
