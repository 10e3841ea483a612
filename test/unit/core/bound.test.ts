/**
 * bounded(): the one length bound on client- and upstream-given names, and the places that read
 * such names (the request's model, the response's model, id, error type and modifiers) using it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bounded, MAX_NAME_CHARS } from '../../../src/core/bound.ts';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { parseErrorBody, parseMessageBody } from '../../../src/api/anthropic/usage.ts';
import { MessageUsageAccumulator } from '../../../src/api/anthropic/stream.ts';

const MB = 1024 * 1024;

test('a name within the bound is itself; a longer one keeps its head and a hash of the whole, MAX_NAME_CHARS in all', () => {
  assert.equal(bounded('claude-sonnet-4-5-20250929'), 'claude-sonnet-4-5-20250929');
  const arn = `arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/${'a'.repeat(40)}`;
  assert.equal(bounded(arn), arn, 'a long real id is kept whole');
  const atBound = 'x'.repeat(MAX_NAME_CHARS);
  assert.equal(bounded(atBound), atBound);
  const long = `claude-${'y'.repeat(MB)}`;
  const b = bounded(long);
  assert.equal(b.length, MAX_NAME_CHARS);
  assert.match(b, /^claude-y+~[0-9a-f]{8}$/);
  assert.equal(bounded(long), b, 'the same value bounds to the same name (a budget instance stays one)');
  assert.notEqual(bounded(`${long}z`), b, 'two long names with one head stay apart');
  assert.match(bounded('abcdefghijklmnop', 12), /^abc~[0-9a-f]{8}$/, 'any bound: head, `~`, 8 hex');
});

test('a surrogate pair is never cut in half', () => {
  const s = `${'a'.repeat(MAX_NAME_CHARS - 10)}😀${'b'.repeat(100)}`;
  const b = bounded(s);
  assert.equal(b.length, MAX_NAME_CHARS - 1);
  assert.equal(Buffer.from(b, 'utf8').toString('utf8'), b, 'valid UTF-16 throughout');
  assert.ok(!b.includes('\uFFFD'));
});

test('a 1 MB model in the request is bounded where the request facts are read', () => {
  const model = 'm'.repeat(MB);
  for (const body of [
    JSON.stringify({ model, max_tokens: 5 }),
    JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(4096) }] }),
  ]) {
    const facts = anthropic.requestFacts(Buffer.from(body));
    assert.equal(facts.model, bounded(model));
    assert.equal(facts.maxTokens, 5);
  }
});

test('names a response gives are bounded: model, message id, error type, tier, in bodies and streams', () => {
  const huge = 'z'.repeat(MB);
  const info = parseMessageBody({
    id: huge,
    model: huge,
    stop_reason: huge,
    usage: { input_tokens: 1, output_tokens: 2, service_tier: huge },
  });
  for (const v of [info.model, info.messageId, info.stopReason, info.usage?.serviceTier]) assert.equal(v?.length, MAX_NAME_CHARS);
  assert.equal(parseErrorBody({ type: 'error', error: { type: huge, message: huge } })?.length, MAX_NAME_CHARS);
  const acc = new MessageUsageAccumulator();
  acc.onEvent('message_start', { type: 'message_start', message: { id: huge, model: huge, usage: { input_tokens: 1, output_tokens: 1 } } });
  acc.onEvent('error', { type: 'error', error: { type: huge } });
  assert.equal(acc.model?.length, MAX_NAME_CHARS);
  assert.equal(acc.messageId?.length, MAX_NAME_CHARS);
  assert.equal(acc.errorType?.length, MAX_NAME_CHARS);
});
