import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MessageUsageAccumulator,
  mergeDelta,
  parseErrorBody,
  parseMessageBody,
  reconcileCacheSplit,
  usageFromObject,
} from '../../../src/api/anthropic/usage.ts';
import { CACHE_SPLIT_USAGE, jsonFixture, usage } from '../usage/helpers.ts';

const json = (name: string): unknown => JSON.parse(jsonFixture(name).toString('utf8'));

test('usageFromObject reads every field of the full Usage object', () => {
  const body = json('message-cache-split.json') as { usage: unknown };
  assert.deepEqual(usageFromObject(body.usage), CACHE_SPLIT_USAGE);
});

test('usageFromObject: null cache counters are 0, absent split is null', () => {
  assert.deepEqual(
    usageFromObject({ input_tokens: 5, output_tokens: 1, cache_creation_input_tokens: null, cache_read_input_tokens: null }),
    usage({ input: 5, output: 1 }),
  );
});

test('usageFromObject: a split without a total derives the total', () => {
  const u = usageFromObject({
    input_tokens: 1,
    output_tokens: 1,
    cache_creation: { ephemeral_5m_input_tokens: 30, ephemeral_1h_input_tokens: 70 },
  });
  assert.deepEqual(u, usage({ input: 1, output: 1, cacheCreation: 100, cacheCreation5m: 30, cacheCreation1h: 70 }));
});

test('usageFromObject: not an object or no token counters → null; garbage counters ignored', () => {
  for (const bad of [null, undefined, 3, 'x', [], {}, { service_tier: 'standard' }, { input_tokens: -1 }]) {
    assert.equal(usageFromObject(bad), null, JSON.stringify(bad));
  }
  assert.deepEqual(usageFromObject({ input_tokens: 3, output_tokens: 1.5, cache_read_input_tokens: '7' }), usage({ input: 3 }));
});

test('mergeDelta overwrites output and present counters, never adds', () => {
  const start = usage({ input: 100, output: 1, cacheRead: 50, webSearchRequests: 1 });
  const once = mergeDelta(start, { output_tokens: 40, input_tokens: 120, server_tool_use: { web_search_requests: 2 } });
  const twice = mergeDelta(once, { output_tokens: 40, input_tokens: 120, server_tool_use: { web_search_requests: 2 } });
  assert.deepEqual(twice, usage({ input: 120, output: 40, cacheRead: 50, webSearchRequests: 2 }));
  assert.deepEqual(start, usage({ input: 100, output: 1, cacheRead: 50, webSearchRequests: 1 }), 'input not mutated');
});

test('mergeDelta: absent or null fields mean no change, never 0 (ai-gateway#1631, agentgateway#1108)', () => {
  const start = usage({ input: 472, output: 1, cacheCreation: 10, cacheRead: 1024, webFetchRequests: 3, serviceTier: 'batch' });
  const merged = mergeDelta(start, {
    output_tokens: 89,
    input_tokens: null,
    cache_read_input_tokens: null,
    cache_creation_input_tokens: null,
    server_tool_use: { web_search_requests: 1 },
  });
  assert.deepEqual(merged, { ...start, output: 89, webSearchRequests: 1 });
  assert.deepEqual(mergeDelta(start, null), start);
  assert.deepEqual(mergeDelta(start, {}), start);
});

test('mergeDelta ignores a cache_creation split in a delta (it only exists on the full object)', () => {
  const start = usage({ cacheCreation: 100, cacheCreation5m: 100, cacheCreation1h: 0 });
  const merged = mergeDelta(start, { output_tokens: 2, cache_creation: { ephemeral_1h_input_tokens: 100 } });
  assert.deepEqual(merged, { ...start, output: 2 });
});

test('cache split rule: a moved total is attributed to 5m; impossible totals drop the split', () => {
  const start = usage({ cacheCreation: 1000, cacheCreation5m: 400, cacheCreation1h: 600 });
  const up = mergeDelta(start, { output_tokens: 1, cache_creation_input_tokens: 1500 });
  assert.deepEqual([up.cacheCreation, up.cacheCreation5m, up.cacheCreation1h], [1500, 900, 600]);
  const down = mergeDelta(start, { output_tokens: 1, cache_creation_input_tokens: 700 });
  assert.deepEqual([down.cacheCreation, down.cacheCreation5m, down.cacheCreation1h], [700, 100, 600]);
  const below = mergeDelta(start, { output_tokens: 1, cache_creation_input_tokens: 500 });
  assert.deepEqual([below.cacheCreation, below.cacheCreation5m, below.cacheCreation1h], [500, null, null]);
  const unsplit = mergeDelta(usage({ cacheCreation: 5 }), { output_tokens: 1, cache_creation_input_tokens: 9 });
  assert.deepEqual([unsplit.cacheCreation5m, unsplit.cacheCreation1h], [null, null]);
  assert.deepEqual(reconcileCacheSplit(10, 4, 6), [4, 6]);
  assert.deepEqual(reconcileCacheSplit(10, null, 6), [4, 6]);
});

test('parseMessageBody reads usage, model, id and stop_reason', () => {
  assert.deepEqual(parseMessageBody(json('message.json')), {
    usage: usage({
      input: 2095,
      output: 503,
      cacheCreation5m: 0,
      cacheCreation1h: 0,
      serviceTier: 'standard',
      inferenceGeo: 'global',
    }),
    model: 'claude-sonnet-4-5-20250929',
    messageId: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
    stopReason: 'end_turn',
  });
});

test('parseMessageBody: a legacy completion has no usage', () => {
  assert.deepEqual(parseMessageBody(json('legacy-completion.json')), {
    usage: null,
    model: 'claude-2.1',
    messageId: 'compl_01U7Cq1oNmdRKU43MCYg8ePD',
    stopReason: 'stop_sequence',
  });
  assert.deepEqual(parseMessageBody([1]), { usage: null, model: null, messageId: null, stopReason: null });
});

test('parseErrorBody returns error.type', () => {
  assert.equal(parseErrorBody(json('error-overloaded.json')), 'overloaded_error');
  assert.equal(parseErrorBody(json('error-rate-limit.json')), 'rate_limit_error');
  assert.equal(parseErrorBody(json('message.json')), null);
  assert.equal(parseErrorBody('nope'), null);
});

const start = (u: object) => ({ type: 'message_start', message: { id: 'msg_1', model: 'm', usage: u } });

test('accumulator: start seeds, delta merges, stop completes; ping and unknown events ignored', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', start({ input_tokens: 10, output_tokens: 1 }));
  acc.onEvent('ping', { type: 'ping' });
  acc.onEvent('agent.thinking', { type: 'agent.thinking', usage: { output_tokens: 999 } });
  acc.onEvent('content_block_delta', { type: 'content_block_delta', usage: { output_tokens: 999 } });
  acc.onEvent('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 7 } });
  assert.equal(acc.complete, false);
  acc.onEvent('message_stop', { type: 'message_stop' });
  assert.deepEqual(acc.usage, usage({ input: 10, output: 7 }));
  assert.equal(acc.complete, true);
  assert.equal(acc.model, 'm');
  assert.equal(acc.messageId, 'msg_1');
  assert.equal(acc.stopReason, 'end_turn');
  assert.deepEqual([...acc.anomalies], []);
});

test('accumulator: without an event name, the JSON type is used', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent(null, start({ input_tokens: 3, output_tokens: 1 }));
  acc.onEvent(null, { type: 'message_delta', delta: {}, usage: { output_tokens: 4 } });
  assert.deepEqual(acc.usage, usage({ input: 3, output: 4 }));
});

test('accumulator: message_delta before message_start is tolerated, seeded from zero and noted', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_delta', { type: 'message_delta', delta: {}, usage: { output_tokens: 4 } });
  assert.deepEqual(acc.usage, usage({ output: 4 }));
  assert.equal(acc.started, false);
  assert.ok(acc.anomalies.has('delta_before_start'));
  // A late message_start re-seeds; the delta's cumulative totals still win.
  acc.onEvent('message_start', start({ input_tokens: 30, output_tokens: 1 }));
  assert.deepEqual(acc.usage, usage({ input: 30, output: 4 }));
});

test('accumulator: error event records error.type; duplicate start and junk data are noted', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', start({ input_tokens: 3, output_tokens: 1 }));
  acc.onEvent('message_start', start({ input_tokens: 99, output_tokens: 1 }));
  acc.onEvent('message_delta', undefined);
  acc.onEvent('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  assert.equal(acc.errorType, 'overloaded_error');
  assert.deepEqual(acc.usage, usage({ input: 3, output: 1 }));
  assert.deepEqual([...acc.anomalies].sort(), ['duplicate_message_start', 'unparseable_event']);
  const other = new MessageUsageAccumulator();
  other.onEvent('error', 'not json');
  assert.equal(other.errorType, 'unknown');
});

test('accumulator: message_start without usage leaves usage null until a delta', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', { type: 'message_start', message: { id: 'msg_x', model: 'm' } });
  assert.equal(acc.usage, null);
  assert.ok(acc.anomalies.has('start_without_usage'));
  acc.onEvent('message_delta', { type: 'message_delta', delta: {}, usage: { output_tokens: 2, input_tokens: 9 } });
  assert.deepEqual(acc.usage, usage({ input: 9, output: 2 }));
  assert.ok(!acc.anomalies.has('delta_before_start'));
});

test('accumulator returns copies: callers cannot mutate its state', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', start({ input_tokens: 3, output_tokens: 1 }));
  const u = acc.usage;
  assert.ok(u);
  u.input = 1000;
  assert.equal(acc.usage?.input, 3);
});
