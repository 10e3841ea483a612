/**
 * The metrics added for the dashboard and alert rules: cache savings priced from the table
 * (exact pico-USD), USD settled per budget instance, the window length, and store reachability.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeCost, TablePricer } from '../../../src/pricing/cost.ts';
import { bundledPriceTable } from '../../../src/pricing/table.ts';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { recordMetrics } from '../../../src/metrics/record.ts';
import { meterPriced, type Measurement } from '../../../src/meter/record.ts';
import { listBiller } from '../../../src/pricing/billing.ts';
import { budgetEvents } from '../../../src/compose/budget-events.ts';
import { picoToUsd } from '../../../src/core/money.ts';
import type { InstanceRef } from '../../../src/budget/types.ts';
import { budget } from '../../helpers/budget-config.ts';
import { NOW, usage } from '../pricing/fixtures.ts';

const table = bundledPriceTable();
const pricer = new TablePricer(table);
const biller = listBiller(pricer);

test('cache savings: reads priced at the input rate minus the cache-read rate, with the same multipliers', () => {
  // Sonnet 4.6: input $3, cache read $0.30 per MTok → 2.7e6 pico saved per cached token.
  const reads = { input: 1_000, output: 100, cacheRead: 50_000 };
  assert.equal(computeCost(table, 'claude-sonnet-4-6', usage(reads), NOW).cacheSavingsPicoUsd, 50_000 * 2_700_000);
  // Batch halves both rates, so it halves the saving; geo (×1.1) applies on 4.6.
  assert.equal(computeCost(table, 'claude-sonnet-4-6', usage({ ...reads, serviceTier: 'batch' }), NOW).cacheSavingsPicoUsd, 67_500_000_000);
  assert.equal(computeCost(table, 'claude-sonnet-4-6', usage({ ...reads, inferenceGeo: 'us' }), NOW).cacheSavingsPicoUsd, 148_500_000_000);
  // Haiku 4.5: $1 vs $0.10.
  assert.equal(computeCost(table, 'claude-haiku-4-5', usage({ cacheRead: 1_000 }), NOW).cacheSavingsPicoUsd, 900_000_000);
});

test('no cache reads or no price: no savings field (the cost result is unchanged)', () => {
  assert.equal('cacheSavingsPicoUsd' in computeCost(table, 'claude-sonnet-4-6', usage({ input: 10, cacheCreation: 100 }), NOW), false);
  assert.equal('cacheSavingsPicoUsd' in pricer.price('claude-unknown-9', usage({ cacheRead: 10 }), NOW), false);
  // Savings past 2^53 pico where the cost is not (corrupt-looking usage): the bill stands, the saving is left out.
  const huge = computeCost(table, 'claude-sonnet-4-6', usage({ cacheRead: 10_000_000_000 }), NOW);
  assert.deepEqual([huge.costPicoUsd, 'cacheSavingsPicoUsd' in huge], [3e15, false]);
});

const measured = (over: Partial<Measurement>): Measurement => ({
  id: 'r1',
  ts: NOW.at,
  method: 'POST',
  path: '/v1/messages',
  caller: { keyId: '0123456789abcdef', tag: '' },
  upstream: 'default',
  free: false,
  status: 200,
  outcome: {
    usage: usage({ input: 100, output: 10, cacheRead: 3_333 }),
    model: 'claude-sonnet-4-6',
    missingReason: null,
    partial: false,
    estimated: false,
    errorType: null,
    stopReason: 'end_turn',
    messageId: 'm',
    adjusted: null,
  },
  model: 'claude-sonnet-4-6',
  stream: false,
  latencyMs: 1,
  ttftMs: null,
  upstreamLatencyMs: null,
  betas: [],
  ...over,
});

test('claude_meter_cache_savings_usd_total: summed exactly per model, exported once per scrape', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  let exact = 0n;
  for (let i = 0; i < 1_000; i++) {
    const { record, cacheSavingsPicoUsd } = meterPriced(biller, measured({ id: `r${i}` }));
    exact += BigInt(cacheSavingsPicoUsd);
    recordMetrics(metrics, record, record.model ?? 'unknown', cacheSavingsPicoUsd);
  }
  // An unpriced model saves nothing we could know.
  const unpriced = meterPriced(
    biller,
    measured({ model: 'claude-unknown-9', outcome: { ...measured({}).outcome, model: 'claude-unknown-9' } }),
  );
  assert.equal(unpriced.cacheSavingsPicoUsd, 0);
  recordMetrics(metrics, unpriced.record, 'claude-unknown-9', unpriced.cacheSavingsPicoUsd);
  assert.equal(exact, 1_000n * 3_333n * 2_700_000n);
  const text = await metrics.registry.metrics();
  assert.match(text, new RegExp(`^claude_meter_cache_savings_usd_total\\{model="claude-sonnet-4-6"\\} ${picoToUsd(exact)}$`, 'm'));
  assert.doesNotMatch(text, /cache_savings_usd_total\{model="claude-unknown-9"/);
});

test('budget events: settled USD per instance (exact), the window length, and store_up at scrape', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  const events = budgetEvents(
    metrics,
    () => {},
    () => NOW.at,
  );
  const b = budget({ name: 'daily', limit_usd: 10 });
  const ref: InstanceRef = {
    budget: 'daily',
    instance: '*',
    window: {
      id: '2026-11-27',
      start: Date.parse('2026-11-27T00:00:00Z'),
      end: Date.parse('2026-11-28T00:00:00Z'),
      segmentMs: 86_400_000,
      rollingMs: null,
    },
    currency: 'USD',
    limitPico: 10e12,
    limitTokens: null,
    enforce: true,
  };
  for (let i = 0; i < 10; i++) events.onSpent?.(b, ref, 100_000_000_001); // $0.100000000001 each
  events.onStates?.([b], [ref], [{ spentPico: 1e12, reservedPico: 0, spentTokens: 0, reservedTokens: 0 }]);
  metrics.bindSources({ journalDepth: () => 0, settlesPending: () => 0, storeReachable: async () => false });
  const text = await metrics.registry.metrics();
  assert.match(text, /^claude_meter_budget_settled_usd_total\{budget="daily",budget_instance="\*"\} 1\.00000000001$/m);
  assert.match(text, /^claude_meter_budget_window_seconds\{budget="daily",budget_instance="\*"\} 86400$/m);
  assert.match(text, /^claude_meter_store_up 0$/m);
});
