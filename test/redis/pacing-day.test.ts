/**
 * Pacing across a time-compressed day: two proxy instances on one Redis share a throttle
 * budget while clients ask for twice the budget, evenly over the day. The forecast sees the
 * budget would run out around midday; pacing must make it last the window: spend ends within
 * 90–100% of the limit and admitted requests are spread over the whole day, not cut off early.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { systemClock, type Timers } from '../../src/lib/clock.ts';

const STEP_MS = 5 * 60_000; // one simulated step = 5 minutes
const STEPS = 288; // a day
const PER_STEP = 4; // requests asked for per step
// Haiku 4.5: 750 in × $1 + 200 out × $5 per MTok = $0.00175 per request; demand = 1,152 × $0.00175 ≈ $2.02 ≈ 2× the limit.
const LIMIT_USD = 1;

test('a throttle budget paced by the forecast lasts the day across two proxies: spend ends at 90–100% of the limit', async (t) => {
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 750, output_tokens: 200 } }));
  const dayStart = Date.UTC(2026, 10, 2); // a Monday, 00:00 UTC
  // Only the date is compressed: the proxies' timers (record batching, waits, retries) run in real time.
  let now = dayStart;
  const clock: Timers = { ...systemClock, now: () => now };
  const config = {
    store: { redis: { url: redis.url, cluster_nodes: [], key_prefix: 'pace' } },
    budgets: [budget({ name: 'daily', limit_usd: LIMIT_USD, window: 'day', action: 'throttle' })],
  };
  const a = await startProxy(t, { upstream: up.url, clock, config, forecasting: false });
  const b = await startProxy(t, { upstream: up.url, clock, config, forecasting: false });

  const admittedPerHour = new Array<number>(24).fill(0);
  let throttled = 0;
  let exhausted = 0;
  for (let step = 0; step < STEPS; step++) {
    now = dayStart + step * STEP_MS + 1_000;
    await a.app.forecasts.update(clock.now());
    await b.app.forecasts.update(clock.now());
    for (let i = 0; i < PER_STEP; i++) {
      const proxy = i % 2 === 0 ? a : b;
      const res = await fetch(`${proxy.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
        body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'x'.repeat(3000) }] }),
      });
      const body = await res.text();
      if (res.status === 200) admittedPerHour[Math.floor((step * STEP_MS) / 3_600_000)]!++;
      else if (/is paced/.test(body)) throttled++;
      else exhausted++;
    }
    await a.app.flush();
    await b.app.flush();
  }
  now = dayStart + STEPS * STEP_MS - 1;
  const report = (await (await fetch(`${a.url}/_meter/budgets`)).json()) as { budgets: { spent_usd: number }[] };
  const spent = report.budgets[0]?.spent_usd ?? 0;
  console.log(
    `pacing figure | spent $${spent.toFixed(4)} of $${LIMIT_USD} (${(spent * 100).toFixed(1)}%), throttled ${throttled}, hard-capped ${exhausted}, admitted per hour ${admittedPerHour.join(',')}`,
  );
  assert.ok(spent >= 0.9 * LIMIT_USD && spent <= LIMIT_USD, `spent ${spent}`);
  assert.ok(throttled > 300, `pacing did the work (${throttled} throttled)`);
  // Spread over the window: every 6-hour quarter of the day got a fair share, the last one included.
  for (let q = 0; q < 4; q++) {
    const n = admittedPerHour.slice(q * 6, q * 6 + 6).reduce((x, y) => x + y, 0);
    assert.ok(n >= 80, `quarter ${q} admitted only ${n}`);
  }
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  assert.match(metrics, /claude_meter_throttled_requests_total\{budget="daily",priority="normal",outcome="refused"\} \d+/);
  assert.match(metrics, /claude_meter_budget_projected_usd\{budget="daily",budget_instance="\*",quantile="p50"\}/);
});
