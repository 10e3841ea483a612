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

test('usage semantics: 1 per upstream the source lists at this scrape; an upstream gone from it leaves no series', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  const lines = async () => (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('claude_meter_usage_semantics{'));
  assert.deepEqual(await lines(), [], 'no series before the sources are bound');
  let upstreams = [
    { upstream: 'default', semantics: 'openai', proven: false },
    { upstream: 'newapi', semantics: 'anthropic', proven: true },
  ];
  metrics.bindSources({
    journalDepth: () => 0,
    settlesPending: () => 0,
    storeReachable: async () => true,
    usageSemantics: () => upstreams,
  });
  assert.deepEqual(await lines(), [
    'claude_meter_usage_semantics{upstream="default",semantics="openai",proven="false"} 1',
    'claude_meter_usage_semantics{upstream="newapi",semantics="anthropic",proven="true"} 1',
  ]);
  // A reload removed newapi, and the default's responses proved its reading: the old series are gone.
  upstreams = [{ upstream: 'default', semantics: 'anthropic', proven: true }];
  assert.deepEqual(await lines(), ['claude_meter_usage_semantics{upstream="default",semantics="anthropic",proven="true"} 1']);
});
