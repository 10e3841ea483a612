import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageUsageAccumulator } from '../../../src/api/anthropic/stream.ts';
import { mergeDelta, parseErrorBody, parseMessageBody, reconcileCacheSplit, usageFromObject } from '../../../src/api/anthropic/usage.ts';
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

test('usageFromObject: not an object or no token counters → null', () => {
  for (const bad of [null, undefined, 3, 'x', [], {}, { service_tier: 'standard' }]) {
    const check = { invalid: false };
    assert.equal(usageFromObject(bad, check), null, JSON.stringify(bad));
    assert.equal(check.invalid, false, JSON.stringify(bad));
  }
});

/** Values a JSON counter can hold that are not a count: never read as 0 or as absent. */
const NOT_COUNTS: readonly unknown[] = [-1000, -1, 1e308, 100.5, '100000', '7', 2 ** 53, 2 ** 53 + 2, true, [], {}];

test('a counter that is not a non-negative safe integer makes the reading invalid, whichever counter it is', () => {
  const fields: ((v: unknown) => Record<string, unknown>)[] = [
    (v) => ({ input_tokens: v, output_tokens: 1 }),
    (v) => ({ input_tokens: 1, output_tokens: v }),
    (v) => ({ input_tokens: 1, output_tokens: 1, cache_read_input_tokens: v }),
    (v) => ({ input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: v }),
    (v) => ({ input_tokens: 1, output_tokens: 1, cache_creation: { ephemeral_5m_input_tokens: v, ephemeral_1h_input_tokens: 0 } }),
    (v) => ({ input_tokens: 1, output_tokens: 1, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: v } }),
    (v) => ({ input_tokens: 1, output_tokens: 1, server_tool_use: { web_search_requests: v } }),
    (v) => ({ input_tokens: 1, output_tokens: 1, server_tool_use: { web_fetch_requests: v } }),
    (v) => ({ input_tokens: v }), // no valid counter at all: still invalid, not "no usage"
  ];
  for (const bad of NOT_COUNTS) {
    for (const f of fields) {
      const body = { id: 'msg_1', model: 'm', usage: f(bad) };
      const info = parseMessageBody(body);
      assert.equal(info.invalid, true, JSON.stringify(body));
      assert.equal(info.usage, null, JSON.stringify(body));
      // A delta carries no cache split (it is not part of MessageDeltaUsage, and is not read there).
      if ('cache_creation' in f(bad)) continue;
      const check = { invalid: false };
      mergeDelta(usage({ input: 1 }), f(bad), check);
      assert.equal(check.invalid, true, `as a delta: ${JSON.stringify(body)}`);
    }
  }
  // Absent and null are "not reported", as the API documents; 0 and 2^53 − 1 are counts.
  const ok = parseMessageBody({ usage: { input_tokens: Number.MAX_SAFE_INTEGER, output_tokens: 0, cache_read_input_tokens: null } });
  assert.equal(ok.invalid, false);
  assert.deepEqual(ok.usage, usage({ input: Number.MAX_SAFE_INTEGER }));
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
    invalid: false,
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
    invalid: false,
    model: 'claude-2.1',
    messageId: 'compl_01U7Cq1oNmdRKU43MCYg8ePD',
    stopReason: 'stop_sequence',
  });
  assert.deepEqual(parseMessageBody([1]), { usage: null, invalid: false, model: null, messageId: null, stopReason: null });
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

test('accumulator: error event records error.type; a duplicate start makes the usage invalid; junk data is noted', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', start({ input_tokens: 3, output_tokens: 1 }));
  assert.equal(acc.invalid, false);
  acc.onEvent('message_start', start({ input_tokens: 99, output_tokens: 1 }));
  acc.onEvent('message_delta', undefined);
  acc.onEvent('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  assert.equal(acc.errorType, 'overloaded_error');
  assert.equal(acc.invalid, true, 'two messages in one stream: which was billed is unknown');
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

const delta = (u: object) => ({ type: 'message_delta', delta: {}, usage: u });

test('accumulator: a cumulative output_tokens that goes down, or is negative, makes the usage invalid', () => {
  const down = new MessageUsageAccumulator();
  down.onEvent('message_start', start({ input_tokens: 10, output_tokens: 3 }));
  down.onEvent('message_delta', delta({ output_tokens: 2 })); // below the start's placeholder: allowed
  down.onEvent('message_delta', delta({ output_tokens: 40 }));
  assert.equal(down.invalid, false);
  down.onEvent('message_delta', delta({ output_tokens: 39 }));
  assert.equal(down.invalid, true);
  assert.ok(down.anomalies.has('output_decreased'));

  const negative = new MessageUsageAccumulator();
  negative.onEvent('message_start', start({ input_tokens: 10, output_tokens: 1 }));
  negative.onEvent('message_delta', delta({ output_tokens: -5 }));
  assert.equal(negative.invalid, true);
  assert.ok(negative.anomalies.has('invalid_count'));

  const badStart = new MessageUsageAccumulator();
  badStart.onEvent('message_start', start({ input_tokens: '25', output_tokens: 1 }));
  assert.equal(badStart.invalid, true);
  assert.equal(badStart.usage, null);
});

test('accumulator: streamedOutput estimates the content streamed since the last usage report, at 3 characters a token', () => {
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', start({ input_tokens: 10, output_tokens: 1 }));
  const text = (t: string) => JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } });
  acc.onContent(text('x'.repeat(30)).length);
  acc.onContent(text('').length); // an empty delta adds nothing
  assert.equal(acc.streamedOutput, 10);
  acc.onContent(text('y').length);
  assert.equal(acc.streamedOutput, 11, 'rounded up: never under');
  acc.onEvent('message_delta', delta({ output_tokens: 12 }));
  assert.equal(acc.streamedOutput, 0, 'the delta counted all of it');
  acc.onContent(text('z'.repeat(6)).length);
  assert.equal(acc.streamedOutput, 2);
});

test('accumulator: any cumulative counter a message_delta lowers makes the usage invalid; equal or higher is fine', () => {
  const seed = {
    input_tokens: 100_000,
    output_tokens: 1,
    cache_read_input_tokens: 50,
    cache_creation_input_tokens: 30,
    cache_creation: { ephemeral_5m_input_tokens: 10, ephemeral_1h_input_tokens: 20 },
    server_tool_use: { web_search_requests: 3, web_fetch_requests: 2 },
  };
  const lowered: object[] = [
    { input_tokens: 0 },
    { cache_read_input_tokens: 49 },
    { cache_creation_input_tokens: 29 },
    { server_tool_use: { web_search_requests: 2 } },
    { server_tool_use: { web_fetch_requests: 0 } },
  ];
  for (const low of lowered) {
    const acc = new MessageUsageAccumulator();
    acc.onEvent('message_start', start(seed));
    acc.onEvent('message_delta', delta({ output_tokens: 5, ...low }));
    assert.equal(acc.invalid, true, JSON.stringify(low));
    assert.ok(acc.anomalies.has('count_decreased'), JSON.stringify(low));
    // A delta that arrived before message_start is replayed over it: the same check applies.
    const late = new MessageUsageAccumulator();
    late.onEvent('message_delta', delta({ output_tokens: 5, ...low }));
    late.onEvent('message_start', start(seed));
    assert.equal(late.invalid, true, `late ${JSON.stringify(low)}`);
  }
  const same = new MessageUsageAccumulator();
  same.onEvent('message_start', start(seed));
  same.onEvent(
    'message_delta',
    delta({ output_tokens: 5, input_tokens: 100_000, cache_read_input_tokens: 60, server_tool_use: { web_search_requests: 4 } }),
  );
  assert.equal(same.invalid, false);
  assert.deepEqual([same.usage?.input, same.usage?.cacheRead, same.usage?.webSearchRequests], [100_000, 60, 4]);
});

test('a full usage object whose cache split contradicts its total is invalid; an absent split or one part alone is read', () => {
  const read = (cc: object) => {
    const check = { invalid: false };
    const u = usageFromObject({ input_tokens: 1, output_tokens: 1, ...cc }, check);
    return { invalid: check.invalid, split: [u?.cacheCreation, u?.cacheCreation5m, u?.cacheCreation1h] };
  };
  const above = { cache_creation_input_tokens: 10, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 1_000_000 } };
  assert.equal(read(above).invalid, true, 'parts above the total');
  const short = { cache_creation_input_tokens: 1_000_000, cache_creation: { ephemeral_5m_input_tokens: 4, ephemeral_1h_input_tokens: 6 } };
  assert.equal(read(short).invalid, true, 'both parts, summing below the total');
  const oneAbove = { cache_creation_input_tokens: 10, cache_creation: { ephemeral_1h_input_tokens: 11 } };
  assert.equal(read(oneAbove).invalid, true, 'one part above the total');
  assert.deepEqual(
    read({ cache_creation_input_tokens: 10 }),
    { invalid: false, split: [10, null, null] },
    'no split: the 5m rate prices it',
  );
  const one = { cache_creation_input_tokens: 10, cache_creation: { ephemeral_1h_input_tokens: 6 } };
  assert.deepEqual(read(one), { invalid: false, split: [10, 4, 6] }, 'one part: the other is the remainder');
  const exact = { cache_creation_input_tokens: 10, cache_creation: { ephemeral_5m_input_tokens: 4, ephemeral_1h_input_tokens: 6 } };
  assert.deepEqual(read(exact), { invalid: false, split: [10, 4, 6] });

  const body = parseMessageBody({ id: 'msg_1', model: 'm', usage: { input_tokens: 1, output_tokens: 1, ...above } });
  assert.deepEqual([body.invalid, body.usage], [true, null], 'a JSON body bills nothing from it');
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', start({ input_tokens: 1, output_tokens: 1, ...short }));
  assert.equal(acc.invalid, true, 'nor does message_start');
});
