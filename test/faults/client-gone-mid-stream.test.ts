/**
 * A client that leaves in the middle of a stream: the proxy stops the upstream request (the
 * mock sees its connection closed before the stream's end), and the record is partial with
 * the usage seen so far and the output estimated from the content streamed; the store and the
 * budget hold exactly that.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { within } from '../helpers/wait.ts';
import { assertBilledWithEstimates, assertEstimatedOutput, cutStream, SONNET } from '../helpers/ledger.ts';

const USAGE: MockUsage = { input_tokens: 5000, output_tokens: 700, cache_read_input_tokens: 1000 };

test('client gone mid-stream: the upstream request is stopped, the record is partial with the usage seen and the output estimated, budget settled on it', async (t) => {
  const up = await startMockAnthropic(t);
  // The rest of the stream is held until the proxy closes the connection, which it must.
  up.setScenario(() => ({ kind: 'stream-cut', usage: USAGE, deltas: 2, end: 'hold' }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })] },
  });
  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 0 });
  const leave = new AbortController();
  const stream = await sdk.messages.create(
    { model: SONNET, max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'hi' }] },
    { signal: leave.signal },
  );
  const seen: string[] = [];
  const ended = await (async () => {
    for await (const ev of stream) {
      seen.push(ev.type);
      if (seen.filter((e) => e === 'content_block_delta').length === 2) leave.abort();
    }
  })().catch((e: unknown) => e);
  // The SDK ends a stream its caller aborted quietly: the caller saw two deltas, then nothing.
  assert.equal(ended, undefined);
  assert.deepEqual(seen, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta']);
  await within('the upstream connection closed', up.whenCut(1), 5_000); // the proxy stopped the upstream: it does not read (and pay for) an answer nobody reads

  await app.flush();
  const [r, ...more] = await app.store.recent(10);
  assert.equal(more.length, 0);
  assert.equal(r?.status, 200);
  assert.equal(r?.partial, true);
  assert.equal(r?.usage?.input, 5000, "message_start's input tokens");
  assert.equal(r?.usage?.cacheRead, 1000);
  // message_start's placeholder of 1, plus the estimate of the two deltas ("one ", "two ") streamed after it.
  const cut = cutStream(up.sent[0] as Buffer);
  assert.equal(r?.messageId, cut.messageId);
  assertEstimatedOutput(r, cut);
  await assertBilledWithEstimates(app, up.billed, [cut]);
});
