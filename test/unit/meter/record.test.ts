/** meterRecord: a measurement becomes a priced record; unknown models are unpriced, never $0. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meterPriced, meterRecord, requestLogFields, type Measurement } from '../../../src/meter/record.ts';
import { TablePricer } from '../../../src/pricing/cost.ts';
import { bundledPriceTable } from '../../../src/pricing/table.ts';
import type { UsageOutcome } from '../../../src/core/usage.ts';
import { listBiller } from '../../../src/pricing/billing.ts';
import type { Bill, Biller } from '../../../src/pricing/types.ts';
import { usage } from '../pricing/fixtures.ts';

const pricer = new TablePricer(bundledPriceTable());
const biller = listBiller(pricer);
const outcome = (over: Partial<UsageOutcome> = {}): UsageOutcome => ({
  usage: usage({ input: 1_000, output: 100 }),
  model: 'claude-sonnet-4-5',
  missingReason: null,
  partial: false,
  estimated: false,
  errorType: null,
  stopReason: 'end_turn',
  messageId: 'msg_1',
  adjusted: null,
  ...over,
});
const measured = (over: Partial<Measurement> = {}): Measurement => ({
  id: 'r1',
  ts: Date.parse('2026-11-27T12:00:00Z'),
  method: 'POST',
  path: '/v1/messages',
  caller: { keyId: '0123456789abcdef', tag: 'web' },
  upstream: 'default',
  free: false,
  status: 200,
  outcome: outcome(),
  model: 'claude-sonnet-4-5',
  stream: true,
  latencyMs: 12.34567,
  ttftMs: null,
  upstreamLatencyMs: 1.0004,
  betas: [],
  ...over,
});

test('a known model is priced exactly in pico-USD, timings rounded to microseconds', () => {
  const r = meterRecord(biller, measured());
  // Sonnet 4.5: $3/MTok input, $15/MTok output → 1,000 × 3e6 + 100 × 15e6 pico-USD.
  assert.equal(r.costPicoUsd, 1_000 * 3_000_000 + 100 * 15_000_000);
  assert.equal(r.unpriced, false);
  assert.equal(r.latencyMs, 12.346);
  assert.equal(r.upstreamLatencyMs, 1);
  assert.deepEqual([r.keyId, r.tag, r.stream, r.messageId], ['0123456789abcdef', 'web', true, 'msg_1']);
});

test('an unknown model is flagged unpriced with cost 0, and the log line says null, not $0', () => {
  const r = meterRecord(biller, measured({ model: 'claude-unknown-9', outcome: outcome({ model: 'claude-unknown-9' }) }));
  assert.equal(r.unpriced, true);
  assert.equal(r.model, 'claude-unknown-9');
  assert.equal(requestLogFields(r, null)['cost_usd'], null);
});

test('free routes are never priced and never report missing usage', () => {
  const r = meterRecord(
    biller,
    measured({ free: true, path: '/v1/messages/count_tokens', outcome: outcome({ usage: null, missingReason: 'no_usage_field' }) }),
  );
  assert.deepEqual([r.costPicoUsd, r.unpriced, r.usageMissing, r.free], [0, false, null, true]);
});

test('no usage: the missing reason is recorded and nothing is priced', () => {
  const r = meterRecord(
    biller,
    measured({ status: 529, outcome: outcome({ usage: null, missingReason: 'error_status', errorType: 'overloaded_error' }) }),
  );
  assert.deepEqual([r.costPicoUsd, r.unpriced, r.usageMissing, r.errorType], [0, false, 'error_status', 'overloaded_error']);
});

test('an alias is billed under the id it resolves to', () => {
  const r = meterRecord(biller, measured({ model: 'claude-sonnet-4-5' }));
  assert.equal(r.model, 'claude-sonnet-4-5-20250929');
  assert.equal(r.unpriced, false);
});

test('the log line gives dollars and leaves absent fields out', () => {
  const f = requestLogFields(meterRecord(biller, measured()), { currency: 'USD', pico: 2_000_000_000 });
  assert.equal(f['cost_usd'], 0.0045);
  assert.equal(f['reserved_usd'], 0.002);
  assert.deepEqual([f['reserved'], f['reserved_currency']], [0.002, 'USD']);
  // A reservation a relay bills in yuan is never logged as dollars.
  const cny = requestLogFields(meterRecord(biller, measured()), { currency: 'CNY', pico: 14_200_000_000 });
  assert.deepEqual([cny['reserved'], cny['reserved_currency'], cny['reserved_usd']], [0.0142, 'CNY', undefined]);
  assert.equal(f['usage_missing'], undefined);
  assert.equal(f['key_id'], '0123456789abcdef');
  assert.equal(f['key'], undefined, 'one name for the key id at every edge');
});

test('usage past what one request can cost (2^53 pico-USD, or 2^53 tokens) is invalid_usage with the problem, not "no price"', () => {
  // Each count is a safe integer, but 1e12 output tokens cost 1.5e19 pico-USD, past 2^53.
  const costly = meterPriced(biller, measured({ outcome: outcome({ usage: usage({ input: 1, output: 1e12 }) }) }));
  assert.equal(costly.record.usageMissing, 'invalid_usage');
  assert.equal(costly.record.unpriced, false, 'the model has a price: the usage is what is wrong');
  assert.equal(costly.record.usage, null);
  assert.match(costly.problem ?? '', /2\^53/);
  // An unknown model is not priced at all, yet its token total still has to be a count.
  const huge = Number.MAX_SAFE_INTEGER;
  const tokens = meterPriced(
    biller,
    measured({ model: 'claude-unknown-9', outcome: outcome({ model: 'claude-unknown-9', usage: usage({ input: huge, output: huge }) }) }),
  );
  assert.equal(tokens.record.usageMissing, 'invalid_usage');
  assert.match(tokens.problem ?? '', /2\^53/);
  // A real request has no problem.
  assert.equal(meterPriced(biller, measured()).problem, undefined);
});

test('estimated output is carried to the record and the log line; a record without usage is never estimated', () => {
  const r = meterRecord(biller, measured({ outcome: outcome({ partial: true, estimated: true }) }));
  assert.equal(r.estimated, true);
  assert.equal(requestLogFields(r, null)['estimated'], true);
  assert.equal(requestLogFields(meterRecord(biller, measured()), null)['estimated'], undefined);
  const none = meterRecord(biller, measured({ outcome: outcome({ usage: null, missingReason: 'stream_incomplete', estimated: true }) }));
  assert.equal(none.estimated, false);
});

/** An upstream billing in CNY: the list price × 7 in pico-CNY, or no billed price for a model it does not bill. Counts its calls. */
function cnyBiller(unbilled: string | null = null): Biller & { calls: number } {
  const b = {
    currency: 'CNY',
    calls: 0,
    bill(model: string | null, u: Parameters<Biller['bill']>[1], ctx: Parameters<Biller['bill']>[2]): Bill {
      b.calls += 1;
      const list = pricer.price(model, u, ctx);
      const none = list.unpriced || model === unbilled;
      return { ...list, currency: 'CNY', billedPico: none ? 0 : list.costPicoUsd * 7, billedUnpriced: none };
    },
  };
  return b;
}

test('the list biller bills the list price in USD: billed = list, to the pico', () => {
  const r = meterRecord(biller, measured());
  assert.deepEqual([r.upstream, r.currency, r.billedPico, r.billedUnpriced], ['default', 'USD', r.costPicoUsd, false]);
  const unknown = meterRecord(biller, measured({ model: 'claude-unknown-9', outcome: outcome({ model: 'claude-unknown-9' }) }));
  assert.deepEqual([unknown.billedPico, unknown.billedUnpriced], [0, true], 'unpriced at list: unpriced billed, never 0');
});

test('an upstream billing in its own currency: list USD and billed CNY side by side, one pricing call per request', () => {
  const cny = cnyBiller();
  const r = meterRecord(cny, measured({ upstream: 'holysheep' }));
  assert.equal(cny.calls, 1);
  assert.equal(r.upstream, 'holysheep');
  assert.equal(r.costPicoUsd, 4_500_000_000);
  assert.deepEqual([r.currency, r.billedPico, r.billedUnpriced, r.unpriced], ['CNY', 31_500_000_000, false, false]);
  const f = requestLogFields(r, null);
  assert.deepEqual(
    [f['upstream'], f['cost_usd'], f['billed'], f['currency'], f['billed_unpriced']],
    ['holysheep', 0.0045, 0.0315, 'CNY', undefined],
  );
  // No usage: nothing to price, and the biller is not asked.
  const none = meterRecord(
    cny,
    measured({ upstream: 'holysheep', status: 529, outcome: outcome({ usage: null, missingReason: 'error_status' }) }),
  );
  assert.equal(cny.calls, 1);
  assert.deepEqual([none.currency, none.billedPico, none.billedUnpriced], ['CNY', 0, false]);
});

test('a model the upstream has no billed price for is billed unpriced (null in the log line), its list price kept', () => {
  const r = meterRecord(cnyBiller('claude-sonnet-4-5'), measured({ upstream: 'holysheep' }));
  assert.deepEqual([r.costPicoUsd > 0, r.unpriced, r.billedPico, r.billedUnpriced], [true, false, 0, true]);
  const f = requestLogFields(r, null);
  assert.deepEqual([f['billed'], f['currency'], f['billed_unpriced']], [null, 'CNY', true]);
});

test('usage clamped by the dialect says why on the record and the log line; a record without usage has no such reason', () => {
  const r = meterRecord(biller, measured({ outcome: outcome({ adjusted: 'cached_above_prompt' }) }));
  assert.equal(r.usageAdjusted, 'cached_above_prompt');
  assert.equal(requestLogFields(r, null)['usage_adjusted'], 'cached_above_prompt');
  assert.equal(requestLogFields(meterRecord(biller, measured()), null)['usage_adjusted'], undefined);
  const costly = meterRecord(
    biller,
    measured({ outcome: outcome({ usage: usage({ input: 1, output: 1e12 }), adjusted: 'cached_above_prompt' }) }),
  );
  assert.deepEqual([costly.usageMissing, costly.usageAdjusted], ['invalid_usage', null]);
});
