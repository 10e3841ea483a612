/**
 * What a client is told (src/budget/policy.ts), from figures chosen so each boundary is hit
 * exactly: the cause and wording of a refusal, retry-after and x-should-retry, the
 * x-meter-budget-* headers, which instance an admitted request reports, over-limit and
 * threshold arithmetic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  INFLIGHT_RETRY_S,
  MAX_USEFUL_RETRY_S,
  admittedHeaders,
  budgetHeaders,
  crossedThresholds,
  headroom,
  overLimit,
  pacedRefusal,
  queuedRefusal,
  refusal,
  tightest,
} from '../../../src/budget/policy.ts';
import type { InstanceRef, InstanceState } from '../../../src/budget/types.ts';
import { budget } from '../../helpers/budget-config.ts';

const USD = 1e12;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 27); // 2026-11-27T00:00Z
const NOW = T0 + 12 * HOUR;
const END_ISO = '2026-11-28T00:00:00.000Z';

const cap = budget({ name: 'cap', limit_usd: 10 });
const day = { id: '2026-11-27', start: T0, end: T0 + DAY, segmentMs: DAY, rollingMs: null };

function ref(o: Partial<InstanceRef> = {}): InstanceRef {
  return { budget: 'cap', instance: '*', window: day, currency: 'USD', limitPico: 10 * USD, limitTokens: null, enforce: true, ...o };
}
function st(spentUsd: number, reservedUsd = 0, spentTokens = 0, reservedTokens = 0): InstanceState {
  return { spentPico: Math.round(spentUsd * USD), reservedPico: Math.round(reservedUsd * USD), spentTokens, reservedTokens };
}
const usd = (u: number, tokens = 0) => ({ pico: Math.round(u * USD), tokens });

test('exhausted: spent reached the limit; retry-after counts to the reset, too far to retry', () => {
  const r = refusal(cap, ref(), st(10), usd(0.5), NOW);
  assert.deepEqual([r.kind, r.cause, r.status], ['limit', 'exhausted', 429]);
  assert.equal(r.message, `budget 'cap' (day) exhausted: spent $10.00 of $10.00, resets ${END_ISO}`);
  assert.equal(r.retryAfterS, 12 * 3600);
  assert.equal(r.shouldRetry, false);
  assert.deepEqual(r.headers, {
    'x-meter-budget-name': 'cap',
    'x-meter-budget-window': '2026-11-27',
    'x-meter-budget-currency': 'USD',
    'x-meter-budget-limit': '10.000000',
    'x-meter-budget-limit-usd': '10.000000',
    'x-meter-budget-remaining': '0.000000',
    'x-meter-budget-remaining-usd': '0.000000',
    'x-meter-budget-reset': END_ISO,
    'x-meter-budget-refusal': 'exhausted',
  });
});

test('nearly exhausted: one pico under the limit, and the request needs more than is left', () => {
  const onePicoShort = { ...st(0), spentPico: 10 * USD - 1 };
  const r = refusal(cap, ref(), onePicoShort, usd(0.5), NOW);
  assert.equal(r.cause, 'nearly_exhausted');
  assert.equal(r.headers['x-meter-budget-refusal'], 'nearly_exhausted');
  const s = refusal(cap, ref(), st(9.8), usd(0.5), NOW);
  assert.equal(
    s.message,
    `budget 'cap' (day) nearly exhausted: spent $9.80 of $10.00 (this request needs about $0.5000), resets ${END_ISO}`,
  );
  assert.equal(s.headers['x-meter-budget-remaining-usd'], '0.200000');
});

test('over the limit even without the reservations in flight: says so only when something is in flight', () => {
  const r = refusal(cap, ref(), st(9.8, 0.1), usd(0.5), NOW);
  assert.equal(r.cause, 'nearly_exhausted');
  assert.match(r.message, /, resets 2026-11-28T00:00:00\.000Z; it would not fit even without the requests in flight$/);
  assert.equal(r.headers['x-meter-budget-remaining-usd'], '0.100000', 'remaining subtracts the reservations');
  assert.doesNotMatch(refusal(cap, ref(), st(9.8), usd(0.5), NOW).message, /in flight/);
});

test('in flight: fits exactly without the reservations (spent + amount = limit), so a short retry is worth it', () => {
  const r = refusal(cap, ref(), st(9.5, 0.1), usd(0.5), NOW);
  assert.deepEqual([r.kind, r.cause], ['limit', 'in_flight']);
  assert.equal(r.retryAfterS, INFLIGHT_RETRY_S);
  assert.equal(r.shouldRetry, true);
  assert.equal(
    r.message,
    "budget 'cap' (day) has no headroom: spent $9.50 + $0.1000 in flight of $10.00; this request (about $0.5000) would fit without the reservations in flight; retry when in-flight requests finish",
  );
  assert.equal(r.headers['x-meter-budget-refusal'], 'in_flight');
  assert.equal(r.headers['x-meter-budget-reset'], END_ISO);
  // One pico more and it no longer fits at all.
  assert.equal(refusal(cap, ref(), { ...st(9.5, 0.1), spentPico: 9.5 * USD + 1 }, usd(0.5), NOW).cause, 'nearly_exhausted');
});

test('in flight after waiting, or with the queue full, the message says which', () => {
  const waited = refusal(cap, ref(), st(9, 0.6), usd(0.5), NOW, { waitedMs: 149.6, queueFull: false });
  assert.match(waited.message, /would fit without the reservations in flight, and waited 150 ms for them to settle; retry when/);
  const full = refusal(cap, ref(), st(9, 0.6), usd(0.5), NOW, { waitedMs: 0, queueFull: true });
  assert.match(
    full.message,
    /would fit without the reservations in flight, but the queue of requests waiting for them is full; retry when/,
  );
});

test('a token limit is judged and worded in tokens, with thousands separators; its headers are token headers', () => {
  const tokensOnly = ref({ limitPico: null, limitTokens: 1000 });
  const nearly = refusal(cap, tokensOnly, st(0, 0, 900), usd(5, 200), NOW);
  assert.equal(nearly.cause, 'nearly_exhausted', 'USD is not limited, so the amount in USD does not matter');
  assert.equal(
    nearly.message,
    `budget 'cap' (day) nearly exhausted: used 900 of 1,000 tokens (this request needs about 200 tokens), resets ${END_ISO}`,
  );
  assert.equal(nearly.headers['x-meter-budget-limit-tokens'], '1000');
  assert.equal(nearly.headers['x-meter-budget-remaining-tokens'], '100');
  assert.equal(nearly.headers['x-meter-budget-limit-usd'], undefined);
  assert.equal(nearly.headers['x-meter-budget-currency'], undefined, 'no money headers without a money limit');
  const over = refusal(cap, tokensOnly, st(0, 0, 1200), usd(0, 1), NOW);
  assert.equal(over.cause, 'exhausted');
  assert.match(over.message, /exhausted: used 1,200 of 1,000 tokens, resets/);
  assert.equal(over.headers['x-meter-budget-remaining-tokens'], '0', 'never negative');
  const inflight = refusal(cap, tokensOnly, st(0, 0, 500, 400), usd(0, 200), NOW);
  assert.equal(inflight.cause, 'in_flight');
  assert.match(inflight.message, /has no headroom: used 500 \+ 400 in flight of 1000 tokens; this request \(about 200 tokens\) would fit/);
  assert.equal(refusal(cap, tokensOnly, st(0, 0, 800, 100), usd(0, 200), NOW).cause, 'in_flight', 'spent + amount = limit fits');
});

test('with USD and tokens both limited, the USD limit speaks when it blocks, else the token one', () => {
  const both = ref({ limitTokens: 1000 });
  assert.match(refusal(cap, both, st(9.8, 0, 100), usd(0.5, 10), NOW).message, /spent \$9\.80 of \$10\.00/);
  assert.match(refusal(cap, both, st(1, 0, 990), usd(0.5, 20), NOW).message, /used 990 of 1,000 tokens/);
});

test('per-key scope names the instance in the message and a header; a rolling window resets one segment from now', () => {
  const perKey = budget({ name: 'per', scope: 'per_key', window: '24h', limit_usd: 10 });
  const rolling = { id: 'rolling', start: NOW - DAY, end: NOW, segmentMs: HOUR, rollingMs: DAY };
  const r = refusal(perKey, ref({ budget: 'per', instance: 'ab12', window: rolling }), st(10), usd(0.5), NOW);
  assert.equal(
    r.message,
    "budget 'per' for key 'ab12' (24h) exhausted: spent $10.00 of $10.00, headroom returns as spend ages out of the window",
  );
  assert.equal(r.retryAfterS, 3600);
  assert.equal(r.headers['x-meter-budget-instance'], 'ab12');
  assert.equal(r.headers['x-meter-budget-reset'], new Date(NOW + HOUR).toISOString());
  assert.equal(
    refusal(cap, ref(), st(10), usd(0.5), NOW).headers['x-meter-budget-instance'],
    undefined,
    'a global budget has no instance header',
  );
  const perTag = budget({ name: 'tags', scope: 'per_tag', limit_usd: 10 });
  assert.match(
    refusal(perTag, ref({ instance: 'batch' }), st(10), usd(0.5), NOW).message,
    /^budget 'tags' for tag 'batch' \(day\) exhausted/,
  );
  assert.equal(budgetHeaders(perTag, ref({ instance: 'batch' }), st(1), null)['x-meter-budget-instance'], 'batch');
});

test('retry-after is at least 1 s, and x-should-retry holds up to MAX_USEFUL_RETRY_S inclusive', () => {
  const at = (msBeforeEnd: number) => refusal(cap, ref(), st(10), usd(0.5), day.end - msBeforeEnd);
  assert.equal(at(10).retryAfterS, 1);
  assert.equal(at(1_001).retryAfterS, 2, 'rounded up');
  assert.deepEqual([at(MAX_USEFUL_RETRY_S * 1000).retryAfterS, at(MAX_USEFUL_RETRY_S * 1000).shouldRetry], [60, true]);
  assert.deepEqual([at(MAX_USEFUL_RETRY_S * 1000 + 1).retryAfterS, at(MAX_USEFUL_RETRY_S * 1000 + 1).shouldRetry], [61, false]);
});

test('a queued refusal read no state: in_flight, a short retry, and no figures in its headers', () => {
  const r = queuedRefusal(cap, ref(), { waitedMs: 2_000, queueFull: false });
  assert.deepEqual([r.kind, r.cause, r.status, r.retryAfterS, r.shouldRetry], ['limit', 'in_flight', 429, INFLIGHT_RETRY_S, true]);
  assert.equal(
    r.message,
    "budget 'cap' (day) has no headroom while requests are in flight, and waited 2000 ms for them to settle; retry when in-flight requests finish",
  );
  assert.deepEqual(r.headers, {
    'x-meter-budget-name': 'cap',
    'x-meter-budget-window': '2026-11-27',
    'x-meter-budget-refusal': 'in_flight',
  });
});

test('a paced refusal: retry-after from the bucket wait, or to the window end when it never refills', () => {
  const throttle = budget({ name: 'cap', limit_usd: 10, action: 'throttle' });
  const rate = USD / HOUR / 2; // $0.50 per hour
  const r = pacedRefusal(throttle, ref(), rate, 2_100, NOW);
  assert.deepEqual([r.kind, r.cause, r.status, r.retryAfterS, r.shouldRetry], ['paced', 'paced', 429, 3, true]);
  assert.equal(
    r.message,
    `budget 'cap' (day) is paced: spend is projected past $10.00 before ${END_ISO}, so it is admitted at $0.5000/h; retry in 3s`,
  );
  assert.deepEqual(r.headers, {
    'x-meter-budget-name': 'cap',
    'x-meter-budget-window': '2026-11-27',
    'x-meter-budget-currency': 'USD',
    'x-meter-budget-paced-per-hour': '0.500000',
    'x-meter-budget-paced-usd-per-hour': '0.500000',
    'x-meter-budget-refusal': 'paced',
  });
  assert.equal(pacedRefusal(throttle, ref(), rate, 10, NOW).retryAfterS, 1);
  const never = pacedRefusal(throttle, ref(), rate, Number.POSITIVE_INFINITY, NOW);
  assert.deepEqual([never.retryAfterS, never.shouldRetry], [12 * 3600, false]);
});

test('budgetHeaders: remaining subtracts spend and reservations and stops at 0; no reset header without a reset', () => {
  const both = ref({ limitTokens: 1000 });
  const h = budgetHeaders(cap, both, st(4, 1.25, 300, 200), null);
  assert.deepEqual(h, {
    'x-meter-budget-name': 'cap',
    'x-meter-budget-window': '2026-11-27',
    'x-meter-budget-currency': 'USD',
    'x-meter-budget-limit': '10.000000',
    'x-meter-budget-limit-usd': '10.000000',
    'x-meter-budget-remaining': '4.750000',
    'x-meter-budget-remaining-usd': '4.750000',
    'x-meter-budget-limit-tokens': '1000',
    'x-meter-budget-remaining-tokens': '500',
  });
  assert.equal(budgetHeaders(cap, both, st(9, 2, 900, 200), null)['x-meter-budget-remaining-usd'], '0.000000');
});

test('headroom: the smaller free fraction of USD and tokens; 1 when unlimited; a zero limit is skipped', () => {
  assert.equal(headroom(ref(), st(2, 0.5)), 0.75);
  assert.equal(headroom(ref({ limitTokens: 1000 }), st(2, 0, 800, 100)), 0.1);
  assert.equal(headroom(ref({ limitPico: null }), st(50)), 1);
  assert.equal(headroom(ref({ limitPico: 0, limitTokens: 100 }), st(1, 0, 50)), 0.5);
  assert.equal(headroom(ref({ limitTokens: 0 }), st(5, 0, 50)), 0.5);
  assert.equal(headroom(ref(), st(12)), -0.2, 'over the limit is below 0');
});

test('tightest: the enforcing instance with the least headroom; shadow and missing states are ignored; ties keep the first', () => {
  const refs = [ref({ instance: 'a' }), ref({ instance: 'b', enforce: false }), ref({ instance: 'c' }), ref({ instance: 'd' })];
  assert.equal(tightest(refs, [st(5), st(9.9), st(8), st(1)]), 2, 'b is fuller but a shadow');
  assert.equal(tightest(refs, [st(8), st(0), st(8), st(0)]), 0);
  assert.equal(tightest(refs, [st(1)]), 0, 'refs past the states are skipped');
  assert.equal(tightest([ref({ enforce: false })], [st(1)]), -1);
});

test('admittedHeaders: those of the tightest instance, with a reset only for calendar windows; none without an enforcing one', () => {
  const rolling = { id: 'rolling', start: NOW - DAY, end: NOW, segmentMs: HOUR, rollingMs: DAY };
  const team = budget({ name: 'team', limit_usd: 100 });
  const refs = [ref({ budget: 'cap' }), ref({ budget: 'team', limitPico: 100 * USD, window: rolling })];
  const calendar = admittedHeaders(refs, [cap, team], [st(9), st(10)]);
  assert.equal(calendar['x-meter-budget-name'], 'cap');
  assert.equal(calendar['x-meter-budget-remaining-usd'], '1.000000');
  assert.equal(calendar['x-meter-budget-reset'], END_ISO);
  const onRolling = admittedHeaders(refs, [cap, team], [st(1), st(95)]);
  assert.equal(onRolling['x-meter-budget-name'], 'team');
  assert.equal(onRolling['x-meter-budget-window'], 'rolling');
  assert.equal(onRolling['x-meter-budget-reset'], undefined);
  assert.deepEqual(admittedHeaders([ref({ enforce: false })], [cap], [st(1)]), {});
});

test('overLimit: strictly past the limit, counting reservations, in USD or tokens', () => {
  assert.equal(overLimit(ref(), st(9, 1)), false, 'exactly at the limit is within it');
  assert.equal(overLimit(ref(), { ...st(9, 1), spentPico: 9 * USD + 1 }), true);
  assert.equal(overLimit(ref({ limitPico: null, limitTokens: 100 }), st(1e6, 0, 60, 40)), false);
  assert.equal(overLimit(ref({ limitPico: null, limitTokens: 100 }), st(0, 0, 60, 41)), true);
  assert.equal(overLimit(ref({ limitPico: null }), st(1e6)), false, 'no limit, never over');
});

test('crossedThresholds: t with before < t·limit <= after, several at once, in USD or tokens', () => {
  const t = [0.5, 0.8, 1];
  assert.deepEqual(crossedThresholds(t, ref(), st(4.99), st(5)), [0.5], 'reaching the threshold exactly crosses it');
  assert.deepEqual(crossedThresholds(t, ref(), st(5), st(7.99)), [], 'starting at it does not cross it again');
  assert.deepEqual(crossedThresholds(t, ref(), st(1), st(10)), [0.5, 0.8, 1]);
  assert.deepEqual(crossedThresholds(t, ref(), st(4, 3), st(4.5, 3)), [], 'reservations do not cross thresholds, spend does');
  const tokens = ref({ limitPico: null, limitTokens: 1000 });
  assert.deepEqual(crossedThresholds(t, tokens, st(100, 0, 790), st(100, 0, 800)), [0.8]);
  assert.deepEqual(crossedThresholds(t, ref({ limitTokens: 1000 }), st(1, 0, 400), st(8, 0, 500)), [0.5, 0.8], 'either unit crosses');
});

/** A budget in yuan: the ledger's amounts for it are pico-yuan. */
const yuan = budget({ name: 'yuan', limit: 3000, currency: 'CNY' });
const CNY = 1e12;
const yuanRef = (o: Partial<InstanceRef> = {}) => ref({ budget: 'yuan', limitPico: 3000 * CNY, ...o });

test('a yuan budget: its refusals speak in yuan, and its headers carry its currency, never a -usd header', () => {
  const r = refusal(yuan, yuanRef(), st(3000), usd(2.5), NOW);
  assert.equal(r.message, `budget 'yuan' (day) exhausted: spent ¥3000.00 of ¥3000.00, resets ${END_ISO}`);
  assert.deepEqual(r.headers, {
    'x-meter-budget-name': 'yuan',
    'x-meter-budget-window': '2026-11-27',
    'x-meter-budget-currency': 'CNY',
    'x-meter-budget-limit': '3000.000000',
    'x-meter-budget-remaining': '0.000000',
    'x-meter-budget-reset': END_ISO,
    'x-meter-budget-refusal': 'exhausted',
  });
  assert.equal(
    refusal(yuan, yuanRef(), st(2999), usd(2.5), NOW).message,
    `budget 'yuan' (day) nearly exhausted: spent ¥2999.00 of ¥3000.00 (this request needs about ¥2.50), resets ${END_ISO}`,
  );
  assert.equal(
    refusal(yuan, yuanRef(), st(2990, 9.75), usd(0.5), NOW).message,
    "budget 'yuan' (day) has no headroom: spent ¥2990.00 + ¥9.75 in flight of ¥3000.00; this request (about ¥0.5000) would fit without the reservations in flight; retry when in-flight requests finish",
  );
  const admitted = admittedHeaders([yuanRef()], [yuan], [st(1000, 0.25)]);
  assert.equal(admitted['x-meter-budget-remaining'], '1999.750000');
  assert.equal(admitted['x-meter-budget-currency'], 'CNY');
  assert.deepEqual(
    Object.keys(admitted).filter((h) => h.endsWith('-usd')),
    [],
  );
});

test('a paced yuan budget: the rate in yuan per hour, in a currency-neutral header', () => {
  const throttle = budget({ name: 'yuan', limit: 3000, currency: 'CNY', action: 'throttle' });
  const r = pacedRefusal(throttle, yuanRef(), (125 * CNY) / HOUR, 2_100, NOW);
  assert.equal(
    r.message,
    `budget 'yuan' (day) is paced: spend is projected past ¥3000.00 before ${END_ISO}, so it is admitted at ¥125.00/h; retry in 3s`,
  );
  assert.deepEqual(r.headers, {
    'x-meter-budget-name': 'yuan',
    'x-meter-budget-window': '2026-11-27',
    'x-meter-budget-currency': 'CNY',
    'x-meter-budget-paced-per-hour': '125.000000',
    'x-meter-budget-refusal': 'paced',
  });
});

test('a budget written as limit with currency USD is a USD budget: the -usd headers too', () => {
  const dollars = budget({ name: 'cap', limit: 10, currency: 'USD' });
  const h = budgetHeaders(dollars, ref(), st(4), null);
  assert.equal(h['x-meter-budget-currency'], 'USD');
  assert.equal(h['x-meter-budget-remaining-usd'], '6.000000');
  assert.equal(h['x-meter-budget-remaining'], '6.000000');
  assert.match(refusal(dollars, ref(), st(10), usd(1), NOW).message, /spent \$10\.00 of \$10\.00/);
});
