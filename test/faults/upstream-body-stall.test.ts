/**
 * The upstream starts a stream and then goes silent: after `upstream.body_timeout_ms` without
 * a byte the proxy closes the upstream request (the mock sees the connection go) and cuts the
 * client's stream, which the client sees as an error after the events sent so far; the record
 * is partial with the usage seen and the output estimated from the content streamed after it,
 * and the store and the budget hold exactly that. The timeout is undici's own timer, so it runs
 * in real time: 300 ms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { within } from '../helpers/wait.ts';
import { assertBilledWithEstimates, assertEstimatedOutput, cutStream, SONNET } from '../helpers/ledger.ts';

const USAGE: MockUsage = { input_tokens: 777, output_tokens: 90 };

test('body stall: the stream is cut after body_timeout_ms, the upstream request closed, the record partial with the usage seen and the output estimated', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'stream-cut', usage: USAGE, deltas: 1, end: 'stall' }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: {
      upstream: { body_timeout_ms: 300 },
      budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })],
    },
  });
  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 0 });
  const seen: string[] = [];
  const thrown = await (async () => {
    const stream = await sdk.messages.create({ model: SONNET, max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    for await (const ev of stream) seen.push(ev.type);
  })().catch((e: unknown) => e);
  assert.ok(thrown instanceof Error, `the stream ends in an error, not a clean end (${String(thrown)})`);
  assert.deepEqual(seen, ['message_start', 'content_block_start', 'content_block_delta']);
  await within('the upstream connection closed', up.whenCut(1), 5_000);

  await app.flush();
  const [r, ...more] = await app.store.recent(10);
  assert.equal(more.length, 0);
  assert.equal(r?.status, 200);
  assert.equal(r?.partial, true);
  assert.equal(r?.usage?.input, 777, "message_start's input tokens");
  // message_start's placeholder of 1, plus the estimate of the one delta ("one ") streamed after it.
  const cut = cutStream(up.sent[0] as Buffer);
  assert.equal(r?.messageId, cut.messageId);
  assertEstimatedOutput(r, cut);
  // The store and the budget hold the reported usage plus the estimate, priced.
  await assertBilledWithEstimates(app, up.billed, [cut]);
});
