/**
 * Series files as simulated requests: aggregated windows spread evenly, tokens from the window
 * means (or the documented defaults), scale keeps total tokens, slices by day.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoScale, DEFAULT_TOKENS, MAX_SIMULATED, planRequests } from '../../../src/simulate/requests.ts';
import { SeriesInputError } from '../../../src/forecast/eval/csv.ts';

const AGG = 'window_start_ms,window_ms,model,requests,input_tokens,output_tokens,token_covered_requests';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

test('an aggregated window becomes its requests, evenly spread, with the mean tokens of the covered requests', () => {
  // 4 requests; token sums cover 2 of them (ServeGen style): 500 in / 50 out each.
  const plan = planRequests(`${AGG}\n0,${HOUR},m,4,1000,100,2\n`, { modelAs: 'claude-sonnet-4-6' });
  const reqs = [...plan.requests()];
  assert.deepEqual(
    reqs.map((r) => r.ts),
    [450_000, 1_350_000, 2_250_000, 3_150_000],
  );
  assert.ok(
    reqs.every(
      (r) => r.inputTokens === 500 && r.outputTokens === 50 && r.model === 'claude-sonnet-4-6' && r.keyId === 'sim' && r.tag === 'sim',
    ),
  );
  assert.equal(plan.defaultedTokens, false);
});

test('windows without tokens get the default per request; --model filters labels; --tag sets the tag', () => {
  const text = `${AGG}\n0,${HOUR},a,3,,,\n0,${HOUR},b,7,,,\n${HOUR},${HOUR},a,2,,,\n`;
  const plan = planRequests(text, { modelAs: 'x', model: 'a', tag: 'batch' });
  const reqs = [...plan.requests()];
  assert.equal(reqs.length, 5);
  assert.ok(reqs.every((r) => r.inputTokens === DEFAULT_TOKENS.input && r.outputTokens === DEFAULT_TOKENS.output && r.tag === 'batch'));
  assert.equal(plan.defaultedTokens, true);
  assert.deepEqual(plan.models, ['a', 'b']);
  assert.throws(
    () => planRequests(text, { modelAs: 'x', model: 'zz' }),
    (e: unknown) => e instanceof SeriesInputError && /models: a, b/.test(e.message),
  );
});

test('per-request rows map 1:1; day slices and history', () => {
  const t0 = Date.UTC(2023, 10, 16);
  const rows = [0, 1, 2].map((d) => `${t0 + d * DAY + 5_000},azure,${100 + d},${10 + d}`);
  const plan = planRequests(`timestamp_ms,model,input_tokens,output_tokens\n${rows.join('\n')}\n`, {
    modelAs: 'x',
    fromDay: 1,
    days: 1,
    historyDays: 1,
  });
  assert.equal(plan.day0, t0);
  assert.equal(plan.from, t0 + DAY);
  assert.equal(plan.to, t0 + 2 * DAY);
  assert.equal(plan.historyFrom, t0);
  assert.deepEqual(
    [...plan.requests()].map((r) => [r.ts - t0, r.inputTokens, r.outputTokens]),
    [
      [5_000, 100, 10],
      [DAY + 5_000, 101, 11],
    ],
  );
});

test('scale F simulates F of the requests and keeps the total tokens (spend stays faithful)', () => {
  const rows = Array.from(
    { length: 10 },
    (_, i) => `${i * 600_000},600000,m,${1000 + i * 37},${(1000 + i * 37) * 300},${(1000 + i * 37) * 40},`,
  );
  const plan = planRequests(`${AGG}\n${rows.join('\n')}\n`, { modelAs: 'x', scale: 0.01 });
  const reqs = [...plan.requests()];
  const source = rows.reduce((s, _, i) => s + 1000 + i * 37, 0);
  assert.equal(reqs.length, Math.round(source * 0.01));
  assert.equal(
    reqs.reduce((s, r) => s + r.inputTokens, 0),
    source * 300,
  );
  assert.equal(
    reqs.reduce((s, r) => s + r.outputTokens, 0),
    source * 40,
  );
  assert.ok(
    reqs.every((r, i) => i === 0 || r.ts >= (reqs[i - 1]?.ts ?? 0)),
    'time-ordered',
  );
  assert.ok(reqs.every((r) => Number.isInteger(r.inputTokens) && Number.isInteger(r.outputTokens)));
});

test('the default scale keeps a run under MAX_SIMULATED and prints as 2 significant digits', () => {
  assert.equal(autoScale(MAX_SIMULATED), 1);
  const f = autoScale(24_131_239);
  assert.equal(f, 0.02);
  assert.ok(24_131_239 * f <= MAX_SIMULATED);
  assert.equal(autoScale(3 * MAX_SIMULATED), 0.33);
});

test('bad input is a SeriesInputError', () => {
  assert.throws(() => planRequests('a,b\n1,2\n', { modelAs: 'x' }), SeriesInputError);
  assert.throws(() => planRequests(`${AGG}\n0,${HOUR},m,-1,,,\n`, { modelAs: 'x' }), /bad requests/);
  assert.throws(() => planRequests(`${AGG}\n0,${HOUR},m,1,,,\n`, { modelAs: 'x', fromDay: 3 }), /past the series' last day/);
  assert.throws(() => planRequests(`${AGG}\n0,${HOUR},m,1,,,\n`, { modelAs: 'x', scale: 2 }), /scale/);
});

test('rows of one window with several labels, read unfiltered, become one window: requests in time order, tokens summed', () => {
  const plan = planRequests(`${AGG}\n0,${HOUR},a,2,,,\n0,${HOUR},b,2,,,\n${HOUR},${HOUR},a,1,,,\n`, { modelAs: 'claude-sonnet-4-6' });
  const ts = [...plan.requests()].map((r) => r.ts);
  assert.deepEqual(ts, [450_000, 1_350_000, 2_250_000, 3_150_000, HOUR + 1_800_000]);
  assert.equal(plan.sourceRequests, 5);
});
