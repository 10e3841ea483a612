import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { CACHE_SPLIT_USAGE, JSON_HEADERS, jsonFixture, outcome, runTap, sseFixture, usage } from './helpers.ts';
import { SSE_CASES } from './sse-cases.ts';

test('every .sse fixture has an expected outcome', () => {
  const files = readdirSync(new URL('../../fixtures/sse/', import.meta.url)).filter((f) => f.endsWith('.sse'));
  assert.deepEqual(files.sort(), SSE_CASES.map((c) => c.file).sort());
});

test('crlf.sse really is \\r\\n-terminated (git must not normalise it)', () => {
  const bytes = sseFixture('crlf.sse');
  assert.ok(bytes.includes('\r\n\r\n'));
  assert.ok(!/[^\r]\n/.test(bytes.toString('latin1')));
});

for (const c of SSE_CASES) {
  test(`sse/${c.file}: ${c.why}`, async () => {
    const { outcome: got } = await runTap({ chunks: [sseFixture(c.file)] });
    assert.deepEqual(got, c.expected);
  });
}

test('sse/cache-total-changes.sse notes the anomaly', async () => {
  const { tap } = await runTap({ chunks: [sseFixture('cache-total-changes.sse')] });
  assert.deepEqual([...tap.anomalies], ['cache_total_changed']);
});

test('sse/error-mid-stream.sse cut further: only a message_start seen, aborted', async () => {
  const bytes = sseFixture('error-mid-stream.sse');
  const firstEvent = bytes.subarray(0, bytes.indexOf('\n\n') + 2);
  const { outcome: got } = await runTap({ chunks: [firstEvent], how: 'aborted' });
  assert.equal(got.partial, true);
  assert.equal(got.usage?.input, 3510);
  assert.equal(got.errorType, null);
});

test('json/message.json through the tap', async () => {
  const { outcome: got } = await runTap({ headers: JSON_HEADERS, chunks: [jsonFixture('message.json')] });
  assert.deepEqual(
    got,
    outcome({
      usage: usage({
        input: 2095,
        output: 503,
        cacheCreation5m: 0,
        cacheCreation1h: 0,
        serviceTier: 'standard',
        inferenceGeo: 'global',
      }),
      model: 'claude-sonnet-4-5-20250929',
      stopReason: 'end_turn',
      messageId: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
    }),
  );
});

test('json/message-cache-split.json through the tap', async () => {
  const { outcome: got } = await runTap({ headers: JSON_HEADERS, chunks: [jsonFixture('message-cache-split.json')] });
  assert.deepEqual(
    got,
    outcome({
      usage: CACHE_SPLIT_USAGE,
      model: 'claude-opus-4-1-20250805',
      stopReason: 'end_turn',
      messageId: 'msg_01Hq3x9aLwzKp6Rv4mXcT8sN',
    }),
  );
});

test('json/error-overloaded.json with status 529', async () => {
  const { outcome: got } = await runTap({ status: 529, headers: JSON_HEADERS, chunks: [jsonFixture('error-overloaded.json')] });
  assert.deepEqual(got, outcome({ model: 'claude-request-model', missingReason: 'error_status', errorType: 'overloaded_error' }));
});

test('json/legacy-completion.json on /v1/messages → no_usage_field, model from the body', async () => {
  const { outcome: got } = await runTap({ headers: JSON_HEADERS, chunks: [jsonFixture('legacy-completion.json')] });
  assert.deepEqual(
    got,
    outcome({
      model: 'claude-2.1',
      missingReason: 'no_usage_field',
      stopReason: 'stop_sequence',
      messageId: 'compl_01U7Cq1oNmdRKU43MCYg8ePD',
    }),
  );
});

test('json/legacy-completion.json on POST /v1/complete → no_usage_field (billed, but no usage reported)', async () => {
  const { outcome: got } = await runTap({
    headers: JSON_HEADERS,
    chunks: [jsonFixture('legacy-completion.json')],
    opts: { path: '/v1/complete', requestModel: null },
  });
  assert.deepEqual(got, outcome({ missingReason: 'no_usage_field' }));
});
