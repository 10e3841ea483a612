/**
 * Issue #21, part 2: a new deployment's first forecast, as reported (fresh proxy, a global day
 * budget, 30 requests in one minute at 10:33, test/helpers/first-minutes.ts), over real HTTP.
 * Before the first update that sees spend, the projection is not computed: null with a status
 * in /_meter/forecast and /_meter/chart, no projection series in /metrics (never $0.00 ·
 * $0.00 · $0.00). After it: p10 < p50 < p90, p10 ≥ spent + reserved, and the note says what
 * the projection rests on. The page itself is in status-page.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstMinutes, REQUEST_USD, START } from '../helpers/first-minutes.ts';

interface Row {
  budget: string;
  status: string;
  spent: number | null;
  reserved: number | null;
  projected: { p10: number; p50: number; p90: number } | null;
  projected_usd: { p10: number; p50: number; p90: number } | null;
  exhaustion_at: string | null;
  pacing_per_hour: number | null;
  method: string | null;
  cold_start: boolean;
  note: string | null;
  updated_at: string | null;
}
interface Chart {
  forecast: { method: string; note: string | null; points: Array<[string, number, number, number]> } | null;
  forecast_status: string | null;
  forecast_note: string | null;
}

const PROJECTION = /^claude_meter_budget_projected(_usd)?\{budget="daily"/m;
const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;

test('first minutes: not computed (null, a status, no series) until an update sees spend; then a real band above spent + reserved, and what it rests on', async (t) => {
  const p = await firstMinutes(t);
  const row = async () => (await p.admin<{ forecasts: Row[] }>('/_meter/forecast')).forecasts.find((f) => f.budget === 'daily')!;
  // The loop's first update ran at the start, with nothing spent and no history.
  assert.equal((await row()).status, 'no_spend_yet');
  const { release } = await p.burst();
  try {
    assert.equal(p.clock.now(), START + 29_000, 'all 30 requests inside the first 30 s');
    const budgets = await p.admin<{ budgets: Array<{ budget: string; spent: number; reserved: number }> }>('/_meter/budgets');
    const live = budgets.budgets.find((b) => b.budget === 'daily')!;
    assert.ok(near(live.spent, 29 * REQUEST_USD) && live.reserved > 0, `29 spent, 1 in flight: ${JSON.stringify(live)}`);

    // Before: not computed, and never zeros.
    const before = await row();
    assert.equal(before.status, 'no_spend_yet');
    assert.deepEqual(
      [before.projected, before.projected_usd, before.exhaustion_at, before.pacing_per_hour, before.method],
      [null, null, null, null, null],
    );
    assert.match(before.note ?? '', /^not computed yet: nothing spent in this window and no history/);
    assert.doesNotMatch(await p.metrics(), PROJECTION, 'no projection series');
    const chart0 = await p.admin<Chart>('/_meter/chart?budget=daily');
    assert.deepEqual([chart0.forecast, chart0.forecast_status], [null, 'no_spend_yet']);
    assert.equal(chart0.forecast_note, before.note);

    // The 10:33:30 update: the first with spend to project from.
    const pass = p.nextPass();
    await p.clock.advanceTo(START + 30_000);
    await pass;
    const after = await row();
    assert.equal(after.updated_at, '2026-12-07T10:33:30.000Z');
    assert.ok(near(after.spent ?? Number.NaN, 29 * REQUEST_USD) && (after.reserved ?? 0) > 0, 'the update saw the request in flight');
    const { p10, p50, p90 } = after.projected!;
    const floor = after.spent! + after.reserved!;
    assert.ok(floor <= p10 && p10 < p50 && p50 < p90, `spent + reserved ${floor} <= p10 ${p10} < p50 ${p50} < p90 ${p90}`);
    // Linear from the hour of the first spend (10:00): 33.5 minutes of pace, extrapolated over the 13 h 26.5 min left.
    const rest = (29 * REQUEST_USD * (13 * 60 + 26.5)) / 33.5;
    assert.ok(Math.abs(p50 - (floor + rest)) < 1e-5, `p50 ${p50} = spent + reserved + ${rest}`);
    assert.ok(Math.abs(p10 - (floor + 0.6 * rest)) < 1e-5 && Math.abs(p90 - (floor + 7 * rest)) < 1e-5, 'the no-history band, ×0.6 to ×7');
    assert.deepEqual([after.method, after.cold_start], ['linear', true]);
    assert.equal(
      after.note,
      "no history yet: the pace since the hour of the first spend, 34 minutes of it, extrapolated to the window's end; p10–p90 ×0.6–×7 of that",
    );
    const metrics = await p.metrics();
    for (const [q, v] of [
      ['p10', p10],
      ['p50', p50],
      ['p90', p90],
    ] as const) {
      const m = new RegExp(
        `^claude_meter_budget_projected_usd\\{budget="daily",budget_instance="\\*",quantile="${q}"\\} (\\S+)$`,
        'm',
      ).exec(metrics);
      assert.ok(m && Math.abs(Number(m[1]) - v) < 1e-6, `${q} exported: ${m?.[0]}`);
    }
    const chart1 = await p.admin<Chart>('/_meter/chart?budget=daily');
    assert.deepEqual([chart1.forecast_status, chart1.forecast_note], ['computed', null]);
    assert.equal(chart1.forecast?.note, after.note);
    const end = chart1.forecast!.points.at(-1)!;
    assert.ok(
      Math.abs(end[1] - p10) < 1e-6 && Math.abs(end[2] - p50) < 1e-6 && Math.abs(end[3] - p90) < 1e-6,
      'the band ends at p10/p50/p90',
    );
  } finally {
    await release();
  }
});

test('before any update: /_meter/forecast lists the budget as not computed (no_update_yet), not missing and not zero', async (t) => {
  const p = await firstMinutes(t, { forecasting: false }); // no update has run
  const rows = (await p.admin<{ forecasts: Row[] }>('/_meter/forecast')).forecasts;
  assert.equal(rows.length, 1);
  assert.deepEqual([rows[0]!.status, rows[0]!.projected, rows[0]!.spent, rows[0]!.updated_at], ['no_update_yet', null, null, null]);
  assert.equal(rows[0]!.note, 'not computed yet: no forecast update has run since the proxy started');
  const chart = await p.admin<Chart>('/_meter/chart?budget=daily');
  assert.deepEqual([chart.forecast, chart.forecast_status], [null, 'no_update_yet']);
  assert.doesNotMatch(await p.metrics(), PROJECTION);
});
