import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RESTART_MAX_IN_WINDOW, RESTART_WINDOW_MS, restartPlan } from '../../../src/workers/restarts.ts';

test('a worker that died is restarted after a delay that doubles with each death in the window, capped', () => {
  const now = 1_000_000;
  assert.deepEqual(restartPlan([now], now), { restart: true, delayMs: 100 });
  assert.deepEqual(restartPlan([now - 2, now - 1, now], now), { restart: true, delayMs: 400 });
  const five = Array.from({ length: RESTART_MAX_IN_WINDOW }, (_, i) => now - i);
  assert.deepEqual(restartPlan(five, now), { restart: true, delayMs: 1_600 });
});

test('more deaths than the bound within the window: no restart', () => {
  const now = 1_000_000;
  const many = Array.from({ length: RESTART_MAX_IN_WINDOW + 1 }, (_, i) => now - i * 1000);
  assert.deepEqual(restartPlan(many, now), { restart: false });
});

test('deaths older than the window are forgotten: a worker that served a while starts over at the first delay', () => {
  const now = 10_000_000;
  const old = Array.from({ length: 20 }, (_, i) => now - RESTART_WINDOW_MS - i);
  assert.deepEqual(restartPlan([...old, now], now), { restart: true, delayMs: 100 });
});
