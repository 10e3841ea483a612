/** reconcile's pure parts: the Admin API page shapes, summed pricing, key mapping, the comparison. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdminShapeError,
  centsToPico,
  parseApiKeysPage,
  parseCostPage,
  parseUsagePage,
  type UsageReportRow,
} from '../../../src/api/anthropic/admin.ts';
import { bundledPriceTable, TablePricer } from '../../../src/pricing/index.ts';
import { capture, emptySide, mapKeys, reconcile, type ReconcileInput } from '../../../src/report/reconcile.ts';
import { upstreamModelKey } from '../../../src/store/keys.ts';
import { emptyTotals, type UsageRow } from '../../../src/store/types.ts';

const pricer = new TablePricer(bundledPriceTable());
const DAY = 86_400_000;
const D1 = Date.UTC(2026, 11, 1);
const M = 1_000_000;
const counts = (o: Partial<Record<'input' | 'output' | 'cacheWrite5m' | 'cacheWrite1h' | 'cacheRead' | 'webSearchRequests', number>>) => ({
  input: 0,
  output: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  cacheRead: 0,
  webSearchRequests: 0,
  ...o,
});
const ctx = (o: Partial<{ serviceTier: string; inferenceGeo: string; longContext: boolean }> = {}) => ({
  at: D1,
  serviceTier: 'standard',
  inferenceGeo: 'global',
  longContext: false,
  ...o,
});

test('priceAggregate: the context window picks the long card, batch halves, us geo adds 10% where it applies; exact past 2^53', () => {
  const c = counts({ input: M, output: M });
  assert.equal(pricer.priceAggregate('claude-sonnet-4-5', c, ctx()), 18_000_000_000_000n);
  assert.equal(pricer.priceAggregate('claude-sonnet-4-5', c, ctx({ longContext: true })), 28_500_000_000_000n);
  assert.equal(pricer.priceAggregate('claude-sonnet-4-5', c, ctx({ longContext: true, serviceTier: 'batch' })), 14_250_000_000_000n);
  assert.equal(pricer.priceAggregate('claude-sonnet-4-5', c, ctx({ inferenceGeo: 'us' })), 18_000_000_000_000n, 'no geo surcharge on 4.5');
  assert.equal(pricer.priceAggregate('claude-sonnet-4-6', c, ctx({ inferenceGeo: 'us' })), 19_800_000_000_000n);
  assert.equal(
    pricer.priceAggregate('claude-sonnet-4-6', c, ctx({ longContext: true })),
    18_000_000_000_000n,
    'no long card: 1M at standard',
  );
  assert.equal(pricer.priceAggregate('claude-sonnet-4-5', counts({ output: 1_000 * M }), ctx()), 15_000_000_000_000_000n);
  assert.equal(pricer.priceAggregate('made-up-model', c, ctx()), null);
});

test('cost amounts are decimal strings of cents, converted exactly', () => {
  assert.equal(centsToPico('123.45'), 1_234_500_000_000n, '$1.2345');
  assert.equal(centsToPico('0.0000000001'), 1n);
  assert.equal(centsToPico('7'), 70_000_000_000n);
  for (const bad of ['-1', '1e3', '', '1.', '0.00000000001', ' 1']) assert.equal(centsToPico(bad), null, bad);
  const page = parseCostPage({
    data: [{ starting_at: '2026-12-01T00:00:00Z', ending_at: '2026-12-02T00:00:00Z', results: [{ currency: 'USD', amount: '0.5' }] }],
    has_more: false,
    next_page: null,
  });
  assert.equal(page.rows[0]?.picoUsd, 5_000_000_000n);
  assert.throws(
    () =>
      parseCostPage({
        data: [{ starting_at: '2026-12-01T00:00:00Z', ending_at: '2026-12-02T00:00:00Z', results: [{ amount: 12.5 }] }],
        has_more: false,
      }),
    /amount is not a decimal string of cents/,
  );
});

test('pages not of the documented shape are refused, naming the field', () => {
  const bucket = (r: unknown) => ({ starting_at: '2026-12-01T00:00:00Z', ending_at: '2026-12-02T00:00:00Z', results: [r] });
  assert.throws(
    () => parseUsagePage({ data: [bucket({ model: 'm', output_tokens: '12' })], has_more: false }),
    /results\[0\]\.output_tokens is not a count/,
  );
  assert.throws(() => parseUsagePage({ data: [bucket({ output_tokens: 1 })], has_more: false }), /model is missing/);
  assert.throws(() => parseUsagePage({ data: [], has_more: true, next_page: null }), /has_more is true but next_page is missing/);
  assert.throws(() => parseUsagePage({ data: {}, has_more: false }), AdminShapeError);
  const ok = parseUsagePage({
    data: [bucket({ model: 'm', api_key_id: null, uncached_input_tokens: 3, cache_creation: { ephemeral_1h_input_tokens: 4 } })],
    has_more: true,
    next_page: 'page_x',
  });
  assert.equal(ok.next, 'page_x');
  assert.deepEqual([ok.rows[0]?.apiKeyId, ok.rows[0]?.input, ok.rows[0]?.cacheWrite1h, ok.rows[0]?.output], [null, 3, 4, 0]);
  assert.equal(
    parseApiKeysPage({ data: [{ id: 'apikey_1', partial_key_hint: 'h' }], has_more: true, last_id: 'apikey_1' }).next,
    'apikey_1',
  );
});

const ourRow = (start: number, upstream: string, keyId: string, model: string, input: number, pico: bigint): UsageRow => {
  const totals = emptyTotals();
  totals.requests = 1;
  totals.tokens.input = input;
  totals.costPicoUsd = pico;
  return { start, value: upstreamModelKey(upstream, keyId, model), totals };
};

test('mapKeys: a hint one key shows maps; none, unknown, or shown by two keys (or two of ours) stays unmapped', () => {
  const ours = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'].map((k) => ourRow(D1, 'anthropic', k, 'm', 1, 1n));
  const hints = new Map([
    ['k1', 'sk-ant-api03-AAA...1111'],
    ['k3', 'sk-ant-api03-CCC...3333'],
    ['k4', 'sk-ant-api03-DDD...4444'],
    ['k5', 'sk-ant-api03-EEE...5555'],
    ['k6', 'sk-ant-api03-EEE...5555'],
  ]);
  const keys = [
    { id: 'apikey_1', name: 'one', status: 'active', partialKeyHint: 'sk-ant-api03-AAA...1111' },
    { id: 'apikey_4a', name: 'four', status: 'active', partialKeyHint: 'sk-ant-api03-DDD...4444' },
    { id: 'apikey_4b', name: 'four too', status: 'active', partialKeyHint: 'sk-ant-api03-DDD...4444' },
    { id: 'apikey_5', name: 'five', status: 'active', partialKeyHint: 'sk-ant-api03-EEE...5555' },
  ];
  const m = mapKeys(hints, keys, ours, new Set(['anthropic']));
  assert.equal(m.get('k1')?.apiKeyId, 'apikey_1');
  assert.match(m.get('k2')?.reason ?? '', /no hint kept/);
  assert.match(m.get('k3')?.reason ?? '', /no key of the organization/);
  assert.match(m.get('k4')?.reason ?? '', /ambiguous/);
  assert.match(m.get('k5')?.reason ?? '', /ambiguous/);
  assert.match(m.get('k6')?.reason ?? '', /ambiguous/);
});

const theirRow = (start: number, o: Partial<UsageReportRow>): UsageReportRow => ({
  start,
  end: start + DAY,
  model: 'claude-sonnet-4-5-20250929',
  apiKeyId: 'apikey_1',
  serviceTier: 'standard',
  contextWindow: '0-200k',
  inferenceGeo: 'global',
  input: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  cacheRead: 0,
  output: 0,
  webSearchRequests: 0,
  ...o,
});

test('reconcile: rows per day and model (aliases meet), relays left out, capture per row and overall, org total without priority', () => {
  const input: ReconcileInput = {
    by: 'model',
    from: D1,
    to: D1 + 2 * DAY,
    cutoff: D1 + DAY + 5 * 3_600_000,
    upstreams: ['anthropic'],
    leftOut: [{ name: 'relay', url: 'https://relay.example' }],
    ours: [
      ourRow(D1, 'anthropic', 'k1', 'claude-sonnet-4-5', M, 3_000_000_000_000n),
      ourRow(D1, 'relay', 'k1', 'claude-sonnet-4-5', 7 * M, 21_000_000_000_000n),
      ourRow(D1 + DAY, 'anthropic', 'k1', 'claude-sonnet-4-5', M, 3_000_000_000_000n),
    ],
    theirs: [
      theirRow(D1, { input: 2 * M }),
      theirRow(D1, { input: M, serviceTier: 'priority' }),
      theirRow(D1, { input: M, apiKeyId: null }),
      theirRow(D1 + DAY, { input: M, end: D1 + DAY + 3_600_000 }),
    ],
    cost: [
      { start: D1, end: D1 + DAY, picoUsd: 9_500_000_000_000n, costType: 'tokens', model: null, serviceTier: null, description: null },
    ],
    keys: null,
    pricer,
    notes: [],
  };
  const r = reconcile(input);
  assert.equal(r.incompleteDay, D1 + DAY);
  assert.deepEqual(
    r.rows.map((x) => [x.day, x.model, x.incomplete, x.ours.input, x.theirs.input, x.ours.picoUsd, x.theirs.picoUsd]),
    [
      [D1, 'claude-sonnet-4-5-20250929', false, M, 4 * M, 3_000_000_000_000n, 12_000_000_000_000n],
      [D1 + DAY, 'claude-sonnet-4-5-20250929', true, M, M, 3_000_000_000_000n, 3_000_000_000_000n],
    ],
  );
  assert.deepEqual(capture(r.rows[0]!.ours, r.rows[0]!.theirs), { ratio: 0.25, basis: 'cost' });
  assert.deepEqual(capture(r.total.ours, r.total.theirs), { ratio: 0.4, basis: 'cost' });
  // The complete day only: $9 of usage priced (priority's $3 left out) against the cost report's $9.50.
  assert.equal(r.org?.days, 1);
  assert.equal(r.org?.usageReport.picoUsd, 9_000_000_000_000n);
  assert.equal(r.org?.priorityLeftOut.picoUsd, 3_000_000_000_000n);
  assert.equal(r.org?.costReport, 9_500_000_000_000n);
  assert.equal(r.org?.ours.picoUsd, 3_000_000_000_000n);
});

test('capture: by tokens when a side has unpriced rows; null when theirs is nothing', () => {
  const a = { ...emptySide(), input: 30, unpriced: 1 };
  const b = { ...emptySide(), input: 40, picoUsd: 5n };
  assert.deepEqual(capture(a, b), { ratio: 0.75, basis: 'tokens' });
  assert.deepEqual(capture({ ...emptySide(), picoUsd: 5n }, emptySide()), { ratio: null, basis: 'cost' });
});
