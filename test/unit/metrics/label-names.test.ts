/**
 * No metric label may be named like a label Prometheus attaches to every scraped series
 * (`instance`, `job`): Prometheus would rename ours to `exported_instance` / `exported_job`,
 * and every query and rule would have to know it. Checked on the labels each metric declares
 * and on the labels of the samples a scrape exports once every family has values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, type MeterMetrics } from '../../../src/metrics/registry.ts';
import { recordMetrics } from '../../../src/metrics/record.ts';
import { budgetEvents } from '../../../src/compose/budget-events.ts';
import { forecastEvents } from '../../../src/compose/forecast-events.ts';
import type { InstanceForecast } from '../../../src/forecast/service.ts';
import type { InstanceRef } from '../../../src/budget/types.ts';
import { emptyUsage } from '../../../src/core/usage.ts';
import { budget } from '../../helpers/budget-config.ts';

const T0 = Date.UTC(2026, 10, 27);

/** Prometheus's target labels, the names it gives ours when they clash, and its reserved prefix. */
function clashes(label: string): boolean {
  return label === 'instance' || label === 'job' || label.startsWith('exported_') || label.startsWith('__');
}

/** The metrics as the composition root builds them with every optional label on, each family given a value. */
function exercised(): MeterMetrics {
  const metrics = createMetrics({ keyLabel: true, tagLabel: true, defaultMetrics: true });
  recordMetrics(
    metrics,
    {
      id: 'r1',
      ts: T0,
      method: 'POST',
      path: '/v1/messages',
      model: 'claude-haiku-4-5',
      keyId: 'k1',
      tag: 'team-a',
      status: 429,
      stream: false,
      usage: emptyUsage(),
      usageMissing: 'refused_by_budget',
      partial: false,
      estimated: false,
      upstream: 'default',
      costPicoUsd: 0,
      unpriced: false,
      currency: 'USD',
      billedPico: 0,
      billedUnpriced: true,
      usageAdjusted: 'cached_above_prompt',
      free: false,
      latencyMs: 1,
      ttftMs: 1,
      upstreamLatencyMs: null,
      errorType: null,
      messageId: null,
    },
    'claude-haiku-4-5',
  );
  const b = budget({ name: 'daily', limit_usd: 10 });
  const ref: InstanceRef = {
    budget: 'daily',
    instance: 'k1',
    currency: 'USD',
    limitPico: 10e12,
    limitTokens: null,
    enforce: true,
    window: { id: '2026-11-27', start: T0, end: T0 + 86_400_000, segmentMs: 86_400_000, rollingMs: null },
  };
  const st = { spentPico: 11e12, reservedPico: 1e12, spentTokens: 0, reservedTokens: 0 };
  const be = budgetEvents(
    metrics,
    () => {},
    () => T0,
  );
  be.onStates?.([b], [ref], [st]);
  be.onSpent?.(b, ref, 1e12);
  be.onSettled?.(b, { pico: 2, tokens: 1 }, { pico: 1, tokens: 1 });
  be.onRefused?.(b, 'exhausted');
  be.onShadowRefused?.(b, ref);
  be.onStoreError?.(b, false);
  be.onWaited?.(b, 'refused', 0.5);
  be.onQueueDepth?.('daily', 1);
  be.onThrottled?.(b, 'normal', 'refused');
  const fe = forecastEvents(metrics, () => {});
  const path = {
    budget: 'daily',
    instance: 'k1',
    windowId: ref.window.id,
    windowStart: T0,
    windowEnd: ref.window.end,
    fittedAt: T0,
    method: 'test',
    coldStart: true,
    knots: [],
  };
  const live = {
    p10: 1e12,
    p50: 2e12,
    p90: 3e12,
    exhaustionAt: T0 + 3_600_000,
    exhaustionEarliest: null,
    exhaustionLatest: null,
    rateP50: 1,
    rateP90: 2,
  };
  const forecast: InstanceForecast = {
    budget: b,
    ref,
    spentPico: st.spentPico,
    reservedPico: st.reservedPico,
    status: 'computed',
    path,
    live,
    pacedRate: null,
    updatedAt: T0,
  };
  fe.onForecast?.(forecast);
  fe.onWindowClosed?.(b, 'k1', 12);
  fe.onSpike?.({ budget: b, instance: 'k1', ratePerHourPico: 2, expectedPerHourPico: 1, offender: { keyId: 'k1' }, at: T0 });
  metrics.alerts.inc({ result: 'sent' });
  metrics.bindSources({
    journalDepth: () => 1,
    settlesPending: () => 1,
    storeReachable: async () => true,
    usageSemantics: () => [{ upstream: 'default', semantics: 'openai', proven: false }],
  });
  return metrics;
}

/** Label names per metric: those declared (prom-client's labelNames) and those on exported samples. */
async function labelNames(metrics: MeterMetrics): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const family of await metrics.registry.getMetricsAsJSON()) {
    const names = new Set<string>(
      (metrics.registry.getSingleMetric(family.name) as { labelNames?: string[] } | undefined)?.labelNames ?? [],
    );
    for (const v of family.values) for (const l of Object.keys(v.labels)) names.add(l);
    out.set(family.name, names);
  }
  return out;
}

test('no metric has a label named instance or job (or exported_*): Prometheus keeps those for its targets', async () => {
  const byMetric = await labelNames(exercised());
  const bad = [...byMetric].flatMap(([name, labels]) => [...labels].filter(clashes).map((l) => `${name}{${l}}`));
  assert.deepEqual(bad, []);
  // The check saw the labels that replaced the clashing ones, so it reads what a scrape exports.
  assert.ok(byMetric.get('claude_meter_budget_spent_usd')?.has('budget_instance'));
  assert.ok(byMetric.get('claude_meter_budget_settled_usd_total')?.has('budget_instance'));
  assert.ok(byMetric.get('claude_meter_budget_projected_usd')?.has('budget_instance'));
  assert.deepEqual([...(byMetric.get('claude_meter_requests_total') ?? [])].sort(), ['key_id', 'model', 'status', 'tag', 'upstream']);
  assert.ok(byMetric.size > 40, `only ${byMetric.size} families`);
});
