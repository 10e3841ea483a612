/**
 * Request heads are bounded before any of our code runs: a head over 16 KiB gets a 431 and
 * nothing reaches the upstream; one just under the bound is forwarded whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { rawRequest } from '../helpers/raw-http.ts';

const BODY = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });

test('a request head over 16 KiB is refused with 431 and never forwarded; one under it is forwarded', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, { upstream: up.url, forecasting: false });
  const headers = (bytes: number): Array<[string, string]> => [
    ['x-api-key', 'sk-ant-api03-head-test'],
    ['content-type', 'application/json'],
    ['x-padding', 'p'.repeat(bytes)],
  ];

  const huge = await rawRequest(url, { method: 'POST', target: '/v1/messages', headers: headers(17 * 1024), body: BODY });
  assert.equal(huge.status, 431);
  assert.equal(up.received.length, 0, 'nothing reached the upstream');

  const fits = await rawRequest(url, { method: 'POST', target: '/v1/messages', headers: headers(12 * 1024), body: BODY });
  assert.equal(fits.status, 200, fits.body);
  assert.equal(up.received.length, 1);
  assert.equal(up.received[0]?.headers['x-padding']?.length, 12 * 1024, 'forwarded whole');
});
