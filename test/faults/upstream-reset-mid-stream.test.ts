/**
 * The upstream's connection drops in the middle of a stream (a reset, a crashed upstream):
 * the client gets every byte sent before the drop and then sees its stream cut, never a clean
 * end; the record is partial and carries the usage seen (message_start's input tokens) with the
 * output estimated from the content streamed; the store and the budget hold exactly that.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { assertBilledWithEstimates, assertEstimatedOutput, cutStream, SONNET } from '../helpers/ledger.ts';

const USAGE: MockUsage = { input_tokens: 321, output_tokens: 50, cache_read_input_tokens: 40 };

test('upstream resets mid-stream: the client sees the bytes then the cut; the record is partial with the usage seen and the output estimated; budget settled on it', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'stream-cut', usage: USAGE, deltas: 2, end: 'drop' }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })] },
  });
  const params = { model: SONNET, max_tokens: 100, stream: true as const, messages: [{ role: 'user' as const, content: 'hi' }] };
  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 0 });

  // On the wire: exactly the bytes sent before the drop, then an error instead of the end.
  const res = await sdk.messages.create(params).asResponse();
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const got: Buffer[] = [];
  const cut = await (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return null;
      got.push(Buffer.from(value));
    }
  })().catch((e: unknown) => e);
  assert.ok(cut instanceof Error, 'the stream ends in an error, not a clean end');
  assert.deepEqual(Buffer.concat(got), up.sent[0], 'every byte before the drop, unchanged');

  // Through the SDK: the events before the drop, then the stream throws.
  const seen: string[] = [];
  const thrown = await (async () => {
    for await (const ev of await sdk.messages.create(params)) seen.push(ev.type);
  })().catch((e: unknown) => e);
  assert.ok(thrown instanceof Error, String(thrown));
  assert.deepEqual(seen, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta']);

  await app.flush();
  const records = await app.store.recent(10);
  assert.equal(records.length, 2);
  const cuts = up.sent.map(cutStream);
  for (const r of records) {
    assert.equal(r.status, 200);
    assert.equal(r.stream, true);
    assert.equal(r.partial, true);
    assert.equal(r.usageMissing, null);
    assert.equal(r.usage?.input, 321, "message_start's input tokens");
    assert.equal(r.usage?.cacheRead, 40);
    // message_start's placeholder of 1, plus the estimate of the two deltas ("one ", "two ") streamed after it.
    const cut = cuts.find((c) => c.messageId === r.messageId);
    assert.ok(cut !== undefined, `a stream the mock sent for ${r.messageId}`);
    assertEstimatedOutput(r, cut);
  }
  await assertBilledWithEstimates(app, up.billed, cuts, 'the store holds the usage the upstream reported plus the estimate');
});
