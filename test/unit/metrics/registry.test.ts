/** createMetrics(): the scrape-time gauges read the sources bound once by the composition root. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/metrics/registry.ts';

test('journal and settle gauges read 0 until bindSources(), then read their sources at every scrape', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  let text = await metrics.registry.metrics();
  assert.match(text, /^claude_meter_store_journal_records 0$/m);
  assert.match(text, /^claude_meter_budget_settles_pending 0$/m);
  let journaled = 3;
  metrics.bindSources({ journalDepth: () => journaled, settlesPending: () => 7, storeReachable: async () => true });
  text = await metrics.registry.metrics();
  assert.match(text, /^claude_meter_store_journal_records 3$/m);
  assert.match(text, /^claude_meter_budget_settles_pending 7$/m);
  journaled = 0;
  assert.match(await metrics.registry.metrics(), /^claude_meter_store_journal_records 0$/m);
});

test('sources are bound once: a second bindSources() throws', () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  metrics.bindSources({ journalDepth: () => 0, settlesPending: () => 0, storeReachable: async () => true });
  assert.throws(
    () => metrics.bindSources({ journalDepth: () => 1, settlesPending: () => 1, storeReachable: async () => true }),
    /bound already/,
  );
});

test('store records are counted by Recorder outcome under the label `event`', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  metrics.storeRecords.inc({ event: 'journaled' }, 2);
  assert.match(await metrics.registry.metrics(), /^claude_meter_store_records_total\{event="journaled"\} 2$/m);
});
