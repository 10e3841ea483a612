/** The forecast service on a ManualClock: cold start flagged, projections published and reused, past projections scored when a window closes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import { ForecastService } from '../../../src/forecast/service.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { budget } from '../../helpers/budget-config.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 2);

test('steady spend: cold start first, a warm projection near the truth later, and each closed window is scored', async () => {
  const clock = new ManualClock(T0);
  const store = new MemoryBudgetStore();
  const b = budget({ name: 'daily', limit_usd: 100, window: 'day' });
  const catalog = new BudgetCatalog([b], () => buildPricer({ source: null, pricing: DEFAULTS.pricing }));
  const scored: number[] = [];
  const fits: number[] = [];
  const svc = new ForecastService({
    catalog,
    ledger: store,
    store,
    meter: new MemoryStore({ clock, bucketTtlSeconds: 86_400, recordsMaxLen: 10 }),
    clock,
    logger: silentLogger,
    config: () => DEFAULTS.forecast,
    events: { onWindowClosed: (_b, _i, ape) => scored.push(ape), onForecast: (f) => fits.push(f.path?.fittedAt ?? Number.NaN) },
  });
  let n = 0;
  // $2 per hour, every hour, for four days: $48 per day.
  for (let t = T0; t < T0 + 4 * DAY; t += HOUR / 4) {
    await clock.advanceTo(t);
    await store.settle([catalog.instanceRef(b, '*', t)], `r${++n}`, [{ pico: 0.5e12, tokens: 1 }], t);
    if (t % HOUR === 0) await svc.update(t + 1);
    if (t === T0 + 2 * HOUR) assert.equal(svc.get('daily', '*')?.path?.coldStart, true, 'hours of history: cold start');
  }
  const f = svc.get('daily', '*');
  assert.ok(f?.status === 'computed');
  assert.equal(f.path.coldStart, false);
  const p50 = f.live.p50 / 1e12;
  assert.ok(Math.abs(p50 - 48) < 3, `p50 ${p50} for a steady $48 day`);
  assert.ok(f.live.p10 <= f.live.p50 && f.live.p50 <= f.live.p90);
  assert.equal(f.live.exhaustionAt, null, '$48 of $100: no exhaustion');
  assert.equal(f.pacedRate, null, 'reject budgets are never paced');
  assert.equal(scored.length, 3, 'three windows closed');
  assert.ok(
    scored.every((ape) => ape >= 0 && ape < 60),
    JSON.stringify(scored),
  );
  assert.ok((scored[2] ?? 100) < 10, `a warm day is forecast within 10%: ${scored[2]}`);
  // Refits follow refit_interval_ms (5 min), so hourly updates refit every time; a second update inside 5 minutes reuses the path.
  const x = clock.now() + 1;
  await svc.update(x);
  assert.equal(svc.get('daily', '*')?.path?.fittedAt, x, 'a stale path is refitted');
  await svc.update(x + 60_000);
  assert.equal(svc.get('daily', '*')?.path?.fittedAt, x, 'a fresh one is reused');
  assert.equal(svc.get('daily', '*')?.updatedAt, x + 60_000, 'but the projection is updated');
});
