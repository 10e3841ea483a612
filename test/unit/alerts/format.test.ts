/** The webhook body: every event field plus a one-line Slack `text`. Pure, so exact strings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertPayload, alertText, fmtMoney, fmtUsd } from '../../../src/alerts/format.ts';
import type { BudgetThresholdAlert, SpendSpikeAlert } from '../../../src/alerts/types.ts';

const threshold: BudgetThresholdAlert = {
  kind: 'budget_threshold',
  budget: 'team-a',
  instance: 'team-a',
  window: { id: '2026-11-28', start: '2026-11-28T00:00:00.000Z', end: '2026-11-29T00:00:00.000Z' },
  threshold: 0.8,
  currency: 'USD',
  spent: 40.1234,
  limit: 50,
  spent_usd: 40.1234,
  limit_usd: 50,
  spent_tokens: 1_234_567,
  limit_tokens: null,
  at: '2026-11-28T15:04:05.000Z',
};

const spike: SpendSpikeAlert = {
  kind: 'spend_spike',
  budget: 'x',
  instance: '*',
  currency: 'USD',
  rate_per_hour: 120,
  expected_per_hour: 3,
  rate_usd_per_hour: 120,
  expected_usd_per_hour: 3,
  multiple: 40,
  offender: { key_id: 'ab12cd34ef' },
  at: '2026-11-28T15:04:05.000Z',
};

test('budget threshold: payload is every event field plus the text', () => {
  assert.deepEqual(alertPayload(threshold), {
    ...threshold,
    text: ":warning: claude-meter: budget 'team-a' (instance team-a, window 2026-11-28) reached 80% of $50.00: spent $40.12",
  });
  // The event is serialized as-is, so the JSON round-trips to the same object.
  assert.deepEqual(JSON.parse(JSON.stringify(alertPayload(threshold))), alertPayload(threshold));
});

test('budget threshold: global instance, token-only limit, float noise in the percentage', () => {
  const e = { ...threshold, instance: '*', threshold: 0.7, limit: null, limit_usd: null, limit_tokens: 1_000_000, spent_tokens: 712_345 };
  assert.equal(
    alertText(e),
    ":warning: claude-meter: budget 'team-a' (global, window 2026-11-28) reached 70% of 1,000,000 tokens: spent 712,345 tokens",
  );
});

test('budget threshold: with both limits the text reports the fuller one', () => {
  const base = { ...threshold, threshold: 1, limit: 50, limit_tokens: 1_000_000 };
  assert.match(alertText({ ...base, spent: 10, spent_tokens: 1_000_000 }), /reached 100% of 1,000,000 tokens: spent 1,000,000 tokens$/);
  assert.match(alertText({ ...base, spent: 50, spent_tokens: 10 }), /reached 100% of \$50\.00: spent \$50\.00$/);
  assert.match(alertText({ ...base, limit: null, limit_tokens: null, spent: 3 }), /\) reached 100%: spent \$3\.00$/);
});

test('spend spike: text with truncated key, then with instance and tag', () => {
  assert.deepEqual(alertPayload(spike), {
    ...spike,
    text: ":rotating_light: claude-meter: spend spike on budget 'x': $120.00/h vs expected $3.00/h (40×), key ab12…",
  });
  assert.equal(
    alertText({
      ...spike,
      instance: 'team-b',
      multiple: 2.5,
      rate_per_hour: 0.005,
      expected_per_hour: 0.002,
      offender: { key_id: 'ab12', tag: 'batch' },
    }),
    ":rotating_light: claude-meter: spend spike on budget 'x': $0.0050/h vs expected $0.0020/h (2.5×), instance team-b, key ab12, tag batch",
  );
  assert.match(alertText({ ...spike, offender: {} }), /\(40×\)$/);
});

test('a yuan budget: the text speaks in yuan, the JSON names the currency and has no dollar amounts', () => {
  const yuan: BudgetThresholdAlert = {
    ...threshold,
    currency: 'CNY',
    spent: 2412.5,
    limit: 3000,
    spent_usd: null,
    limit_usd: null,
  };
  assert.deepEqual(alertPayload(yuan), {
    ...yuan,
    text: ":warning: claude-meter: budget 'team-a' (instance team-a, window 2026-11-28) reached 80% of ¥3,000.00: spent ¥2,412.50",
  });
  const spikeYuan: SpendSpikeAlert = {
    ...spike,
    currency: 'CNY',
    rate_per_hour: 852,
    expected_per_hour: 21.3,
    rate_usd_per_hour: null,
    expected_usd_per_hour: null,
  };
  assert.equal(
    alertText(spikeYuan),
    ":rotating_light: claude-meter: spend spike on budget 'x': ¥852.00/h vs expected ¥21.30/h (40×), key ab12…",
  );
  // A code without a symbol prints as its code.
  assert.match(alertText({ ...yuan, currency: 'CHF' }), /reached 80% of CHF 3,000\.00: spent CHF 2,412\.50$/);
});

test('money: 2 decimals, 4 below a cent, grouped', () => {
  assert.equal(fmtMoney(0.0042, 'CNY'), '¥0.0042');
  assert.equal(fmtMoney(-1234.5, 'EUR'), '-€1,234.50');
  assert.equal(fmtUsd(0), '$0.00');
  assert.equal(fmtUsd(0.01), '$0.01');
  assert.equal(fmtUsd(0.0042), '$0.0042');
  assert.equal(fmtUsd(0.00001), '$0.0000');
  assert.equal(fmtUsd(40.125), '$40.13');
  assert.equal(fmtUsd(1234.5), '$1,234.50');
  assert.equal(fmtUsd(-2), '-$2.00');
});

test('client-controlled names cannot inject Slack mentions or break the line', () => {
  const text = alertText({ ...spike, offender: { tag: '<!channel> & co\nnext' } });
  assert.match(text, /tag &lt;!channel&gt; &amp; co next$/);
  assert.ok(!text.includes('\n'));
  assert.ok(alertText({ ...threshold, instance: 'x'.repeat(500) }).length < 250);
});

test('alertPayload does not mutate the event', () => {
  const e = structuredClone(threshold);
  alertPayload(e);
  assert.deepEqual(e, threshold);
});
