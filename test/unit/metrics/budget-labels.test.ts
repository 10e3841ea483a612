/**
 * The budget_instance label under metrics.max_label_values: gauges only for instances with a
 * place, settled USD of the others summed under `other`, and a dropped instance's series gone
 * with its place given back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { budgetEvents } from '../../../src/compose/budget-events.ts';
import type { InstanceRef } from '../../../src/budget/types.ts';
import { budget } from '../../helpers/budget-config.ts';

const T0 = Date.UTC(2026, 10, 27);
const b = budget({ name: 'keys', scope: 'per_key', limit_usd: 10 });
const ref = (instance: string): InstanceRef => ({
  budget: 'keys',
  instance,
  currency: 'USD',
  limitPico: 10e12,
  limitTokens: null,
  enforce: true,
  window: { id: '2026-11-27', start: T0, end: T0 + 86_400_000, segmentMs: 86_400_000, rollingMs: null },
});
const st = { spentPico: 1e12, reservedPico: 0, spentTokens: 0, reservedTokens: 0 };

const instancesIn = (text: string, metric: string): string[] =>
  [...text.matchAll(new RegExp(`^claude_meter_${metric}\\{budget="keys",budget_instance="([^"]*)"\\} (\\S+)$`, 'gm'))]
    .map((m) => `${m[1]}=${m[2]}`)
    .sort();

test('budget instances past the cap have no gauges, their settled USD adds to `other`, a dropped one gives its place back', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false, maxLabelValues: 2 });
  const events = budgetEvents(
    metrics,
    () => {},
    () => T0,
  );
  for (const k of ['k1', 'k2', 'k3', 'k4']) {
    events.onStates?.([b], [ref(k)], [st]);
    events.onSpent?.(b, ref(k), 1e12);
  }
  let text = await metrics.registry.metrics();
  assert.deepEqual(instancesIn(text, 'budget_spent_usd'), ['k1=1', 'k2=1']);
  assert.deepEqual(instancesIn(text, 'budget_settled_usd_total'), ['k1=1', 'k2=1', 'other=2']);
  assert.match(text, /^claude_meter_label_overflow_total\{label="budget_instance"\} 4$/m);

  // k5 is admitted (no place: no gauge), refused upstream and dropped; k2 had spend, so its counter keeps its place.
  events.onStates?.([b], [ref('k5')], [st]);
  events.onDropped?.([b, b], [ref('k5'), ref('k2')]);
  text = await metrics.registry.metrics();
  assert.deepEqual(instancesIn(text, 'budget_spent_usd'), ['k1=1'], "the dropped instance's gauges are gone");
  assert.deepEqual(instancesIn(text, 'budget_settled_usd_total'), ['k1=1', 'k2=1', 'other=2'], 'counters never lose a series');
  events.onStates?.([b], [ref('k6')], [st]);
  assert.deepEqual(instancesIn(await metrics.registry.metrics(), 'budget_spent_usd'), ['k1=1'], 'k2 still holds its place');

  // An instance that never spent gives its place back when dropped.
  const fresh = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false, maxLabelValues: 1 });
  const fe = budgetEvents(
    fresh,
    () => {},
    () => T0,
  );
  fe.onStates?.([b], [ref('bad-key')], [{ ...st, spentPico: 0, reservedPico: 5e11 }]);
  assert.deepEqual(instancesIn(await fresh.registry.metrics(), 'budget_reserved_usd'), ['bad-key=0.5']);
  fe.onDropped?.([b], [ref('bad-key')]);
  fe.onStates?.([b], [ref('good-key')], [st]);
  assert.deepEqual(instancesIn(await fresh.registry.metrics(), 'budget_spent_usd'), ['good-key=1']);
  assert.deepEqual(instancesIn(await fresh.registry.metrics(), 'budget_reserved_usd'), ['good-key=0']);
});
