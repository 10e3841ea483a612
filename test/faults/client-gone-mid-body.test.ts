/**
 * A client that leaves while still uploading its request body: nothing is forwarded, nothing
 * recorded or billed, no budget reservation is made or left, and the next request is served
 * and billed normally.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { bill, billOf, globalBudget, SONNET, storeTotals } from '../helpers/ledger.ts';

const USAGE: MockUsage = { input_tokens: 600, output_tokens: 60 };

test('client gone mid-body: nothing forwarded, nothing recorded or billed, nothing reserved; the next request is served', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })] },
  });
  const serverSide = once(app.server, 'connection') as Promise<[net.Socket]>;
  const requestSeen = once(app.server, 'request');
  const client = net.connect({ host: '127.0.0.1', port: Number(new URL(url).port) });
  const body = JSON.stringify({ model: SONNET, max_tokens: 100, messages: [{ role: 'user', content: 'x'.repeat(4000) }] });
  client.write(
    `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: sk-ant-fault\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 1000)}`,
  );
  await requestSeen; // the proxy is reading the body
  const [socket] = await serverSide;
  client.destroy();
  // Not events.once: the proxy's side of the socket errors first (a body cut short), and that is expected.
  await new Promise((resolve) => socket.once('close', resolve));

  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 0 });
  await sdk.messages.create({ model: SONNET, max_tokens: 100, messages: [{ role: 'user', content: 'next' }] });

  await app.flush();
  assert.equal(up.received.length, 1, 'only the next request reached the upstream');
  assert.equal(JSON.parse(up.received[0]!.body.toString()).messages[0].content, 'next');
  const records = await app.store.recent(10);
  assert.equal(records.length, 1, 'the abandoned upload left no record');
  const billed = bill(up.billed);
  assert.deepEqual(billOf(await storeTotals(app.store)), billed);
  assert.deepEqual(await globalBudget(app, 'day'), { spentPico: Number(billed.costPicoUsd), reservedPico: 0 });
});
