/**
 * Anthropic can end a 200 stream with `event: error` (`overloaded_error`) after some content:
 * the client receives the stream byte for byte, error event included (the SDK raises it), and
 * the record is partial, names the error type and carries the usage seen, its output estimated
 * from the content streamed; the store and the budget hold exactly that usage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { assertBilledWithEstimates, assertEstimatedOutput, cutStream, SONNET } from '../helpers/ledger.ts';

const USAGE: MockUsage = { input_tokens: 4321, output_tokens: 80, cache_creation_input_tokens: 500 };

test('event: error mid-stream: delivered byte for byte, raised by the SDK; the record is partial with the error type, the usage seen and the output estimated', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'stream-error', usage: USAGE }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })] },
  });
  const params = { model: SONNET, max_tokens: 100, stream: true as const, messages: [{ role: 'user' as const, content: 'hi' }] };
  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 0 });

  const res = await sdk.messages.create(params).asResponse();
  assert.equal(res.status, 200);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.deepEqual(bytes, up.sent[0], 'the whole stream, error event included, unchanged');
  assert.match(bytes.toString(), /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error"/);

  const seen: string[] = [];
  const thrown = await (async () => {
    for await (const ev of await sdk.messages.create(params)) seen.push(ev.type);
  })().catch((e: unknown) => e);
  assert.ok(thrown instanceof Anthropic.APIError, String(thrown));
  assert.equal((thrown.error as { error: { type: string } }).error.type, 'overloaded_error');
  assert.deepEqual(seen.slice(0, 2), ['message_start', 'content_block_start']);

  await app.flush();
  const records = await app.store.recent(10);
  assert.equal(records.length, 2);
  const cuts = up.sent.map(cutStream);
  for (const r of records) {
    assert.equal(r.status, 200);
    assert.equal(r.partial, true);
    assert.equal(r.errorType, 'overloaded_error');
    assert.equal(r.usage?.input, 4321);
    assert.equal(r.usage?.cacheCreation, 500);
    // No message_delta came: message_start's placeholder of 1, plus the estimate of the four
    // deltas ("one ", "two ", "three ", "four") streamed before the error.
    const cut = cuts.find((c) => c.messageId === r.messageId);
    assert.ok(cut !== undefined, `a stream the mock sent for ${r.messageId}`);
    assertEstimatedOutput(r, cut);
  }
  await assertBilledWithEstimates(app, up.billed, cuts);
});
