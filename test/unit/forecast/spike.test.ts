/**
 * Spike detection on a trace with an injected 47× burst (the 3 a.m. incident): a week of
 * steady spend with a daily shape raises no alarm; a 5-minute burst at 47× the normal rate
 * from one key raises exactly one alert naming that key and tag, and the key is paced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import { ForecastService, type SpikeEvent } from '../../../src/forecast/service.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { emptyUsage } from '../../../src/core/usage.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { budget } from '../../helpers/budget-config.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { forecastEvents } from '../../../src/compose/forecast-events.ts';
import type { AlertEvent } from '../../../src/alerts/types.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 2); // Monday 00:00 UTC

/** Normal spend per 5 minutes: a daily shape between $0.10 (night) and $0.40 (afternoon). */
function normal5min(t: number): number {
  const h = ((t % DAY) / HOUR) | 0;
  return (0.25 + 0.15 * Math.sin(((h - 9) / 24) * 2 * Math.PI)) * 1e12;
}

test('a 47× burst is detected once, with the offending key and tag; a normal week raises nothing', async () => {
  const clock = new ManualClock(T0);
  const store = new MemoryBudgetStore();
  const meter = new MemoryStore({ clock, bucketTtlSeconds: 40 * 86_400, recordsMaxLen: 1000 });
  const b = budget({ name: 'daily', limit_usd: 1000, window: 'day', spike: { multiple: 5, window_min: 5, action: 'throttle_offender' } });
  const catalog = new BudgetCatalog([b], () => buildPricer({ source: null, pricing: DEFAULTS.pricing }));
  const spikes: SpikeEvent[] = [];
  const svc = new ForecastService({
    catalog,
    ledger: store,
    store,
    meter,
    clock,
    logger: silentLogger,
    config: () => DEFAULTS.forecast,
    events: { onSpike: (e) => spikes.push(e) },
  });

  let n = 0;
  const spend = async (t: number, pico: number, keyId: string, tag: string) => {
    await clock.advanceTo(t);
    const ref = catalog.instanceRef(b, '*', t);
    const id = `r${++n}`;
    await store.settle([ref], id, [{ pico: Math.round(pico), tokens: 1 }], t);
    await meter.write({
      id,
      ts: t,
      method: 'POST',
      path: '/v1/messages',
      model: 'claude-haiku-4-5-20251001',
      keyId,
      tag,
      status: 200,
      stream: false,
      usage: emptyUsage(),
      usageMissing: null,
      partial: false,
      estimated: false,
      upstream: 'default',
      costPicoUsd: Math.round(pico),
      unpriced: false,
      currency: 'USD',
      billedPico: Math.round(pico),
      billedUnpriced: false,
      usageAdjusted: null,
      free: false,
      latencyMs: 1,
      ttftMs: 1,
      upstreamLatencyMs: 1,
      errorType: null,
      messageId: null,
    });
  };

  // A week of normal traffic, checked every hour.
  for (let t = T0; t < T0 + 7 * DAY; t += 5 * MIN) {
    await spend(t, normal5min(t), 'k-normal', 'web');
    if (t % HOUR === 0) await svc.update(t + 1);
  }
  assert.equal(spikes.length, 0, 'no alarm on a normal week');

  // Day 8, 03:00: a runaway job spends at 47× the normal rate for 5 minutes.
  const burst = T0 + 7 * DAY + 3 * HOUR;
  for (let m = 0; m < 5; m++) {
    await spend(burst + m * MIN, normal5min(burst) / 5, 'k-normal', 'web');
    await spend(burst + m * MIN + 1, (47 * normal5min(burst)) / 5, 'k-runaway', 'batch-job');
  }
  await svc.update(burst + 5 * MIN);
  await svc.update(burst + 6 * MIN);
  assert.equal(spikes.length, 1, 'one alert per incident');
  const s = spikes[0];
  assert.ok(s);
  assert.deepEqual(s.offender, { keyId: 'k-runaway', tag: 'batch-job' });
  assert.ok(s.ratePerHourPico > 5 * s.expectedPerHourPico);
  assert.ok(svc.offenderRate('daily', '*', 'k-runaway', 'other', burst + 7 * MIN), 'the offending key is paced');
  assert.equal(svc.offenderRate('daily', '*', 'k-normal', 'web', burst + 7 * MIN), null, 'others are not');
  assert.equal(svc.offenderRate('daily', '*', 'k-runaway', 'x', burst + 30 * MIN), null, 'pacing of an offender lapses');
});

test('the spike alert names the offender by key_id and tag, and is counted', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  const alerts: AlertEvent[] = [];
  const events = forecastEvents(metrics, (e) => alerts.push(e));
  const b = budget({ name: 'daily', limit_usd: 1000 });
  const at = T0 + 3 * HOUR;
  events.onSpike?.({
    budget: b,
    instance: '*',
    ratePerHourPico: 47e12,
    expectedPerHourPico: 1e12,
    offender: { keyId: 'k-runaway', tag: 'batch-job' },
    at,
  });
  events.onSpike?.({ budget: b, instance: '*', ratePerHourPico: 47e12, expectedPerHourPico: 1e12, offender: {}, at });
  assert.deepEqual(
    alerts.map((a) => a.kind === 'spend_spike' && a.offender),
    [{ key_id: 'k-runaway', tag: 'batch-job' }, {}],
  );
  assert.match(await metrics.registry.metrics(), /^claude_meter_spike_alerts_total\{budget="daily"\} 2$/m);
});
