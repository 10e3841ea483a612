/**
 * The upstream accepts the request and never answers: after `upstream.headers_timeout_ms` the
 * client gets a 504 timeout_error in the Anthropic shape, the proxy closes its upstream
 * request (the mock sees the connection go), the record says 504 with no usage, and nothing
 * is spent or left reserved. The timeout is undici's own timer, so it runs in real time: 300 ms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { within } from '../helpers/wait.ts';
import { bill, billOf, globalBudget, SONNET, storeTotals } from '../helpers/ledger.ts';

test('headers timeout: the client gets 504 timeout_error, the upstream request is closed, the record says 504, no spend', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'hang' }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: {
      upstream: { headers_timeout_ms: 300 },
      budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 10 })],
    },
  });
  const sdk = new Anthropic({ apiKey: 'sk-ant-fault', baseURL: url, maxRetries: 0 });
  const err = await sdk.messages
    .create({ model: SONNET, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.InternalServerError, String(err));
  assert.equal(err.status, 504);
  const body = err.error as { type: string; error: { type: string; message: string } };
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'timeout_error');
  assert.match(body.error.message, /timed out \(UND_ERR_HEADERS_TIMEOUT\)/);
  await within('the upstream connection closed', up.whenCut(1), 5_000); // the proxy did not leave the upstream request open

  await app.flush();
  const [r, ...more] = await app.store.recent(10);
  assert.equal(more.length, 0);
  assert.equal(r?.status, 504);
  assert.equal(r?.usage, null);
  assert.equal(r?.usageMissing, 'upstream_unreachable');
  assert.equal(r?.upstreamLatencyMs, null, 'no response headers ever came');
  assert.deepEqual(billOf(await storeTotals(app.store)), bill([]));
  assert.deepEqual(await globalBudget(app, 'day'), { spentPico: 0, reservedPico: 0 });
});
