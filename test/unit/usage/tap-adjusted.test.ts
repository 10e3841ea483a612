/**
 * A dialect that clamps inconsistent usage says why (BodyReading.adjusted); the tap carries the
 * reason to the outcome, for the record and a counter. Anthropic never clamps: its outcomes say null.
 * The dialect here is Anthropic's with a reason added, as a dialect that clamps would report it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { MessageUsageAccumulator } from '../../../src/api/anthropic/stream.ts';
import type { Dialect } from '../../../src/core/dialect.ts';
import { JSON_HEADERS, jsonFixture, runTap, SSE_HEADERS, sseFixture } from './helpers.ts';

const REASON = 'cached_above_prompt';

class ClampingStream extends MessageUsageAccumulator {
  get adjusted(): string | null {
    return this.usage === null ? null : REASON;
  }
}

const clamping: Dialect = {
  ...anthropic,
  readBody: (json) => ({ ...anthropic.readBody(json), adjusted: REASON }),
  newStream: () => new ClampingStream(),
};

test('a JSON body whose usage the dialect clamped: the outcome says why', async () => {
  const { outcome } = await runTap({ headers: JSON_HEADERS, chunks: [jsonFixture('message.json')], opts: { dialect: clamping } });
  assert.equal(outcome.adjusted, REASON);
  assert.notEqual(outcome.usage, null);
});

test('a stream whose usage the dialect clamped: the outcome says why', async () => {
  const { outcome } = await runTap({ headers: SSE_HEADERS, chunks: [sseFixture('basic-text.sse')], opts: { dialect: clamping } });
  assert.equal(outcome.adjusted, REASON);
});

test('no usage kept (invalid, or none reported): no adjustment, whatever the dialect said', async () => {
  const invalid = Buffer.from(JSON.stringify({ id: 'm', model: 'x', usage: { input_tokens: -1, output_tokens: 1 } }));
  const bad = await runTap({ headers: JSON_HEADERS, chunks: [invalid], opts: { dialect: clamping } });
  assert.deepEqual([bad.outcome.missingReason, bad.outcome.adjusted], ['invalid_usage', null]);
  const none = await runTap({ headers: JSON_HEADERS, chunks: [Buffer.from('{"id":"m"}')], opts: { dialect: clamping } });
  assert.deepEqual([none.outcome.missingReason, none.outcome.adjusted], ['no_usage_field', null]);
});

test('a dialect that reports usage as it is (Anthropic): adjusted is null', async () => {
  const json = await runTap({ headers: JSON_HEADERS, chunks: [jsonFixture('message.json')] });
  const sse = await runTap({ headers: SSE_HEADERS, chunks: [sseFixture('basic-text.sse')] });
  assert.deepEqual([json.outcome.adjusted, sse.outcome.adjusted], [null, null]);
});
