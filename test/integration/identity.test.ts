/**
 * Identity is the credential the upstream receives: through a real proxy and the mock upstream,
 * a per-key budget holds against a throwaway key hidden behind Connection, two credentials are
 * refused, exactly one is forwarded, and with the proxy's own key the client's is checked
 * against the configured key ids or marked unverified. Also: a header the upstream names in
 * its Connection header does not reach the client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { hashKey } from '../../src/http/identify.ts';

const HAIKU = 'claude-haiku-4-5'; // $1 in / $5 out per MTok
const REAL = 'sk-ant-api03-the-real-key-AAAAAAAAAAAAAAAA';
const OTHER = 'sk-ant-api03-another-key-BBBBBBBBBBBBBBBBB';
const BODY = JSON.stringify({ model: HAIKU, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });

const post = (url: string, headers: Array<[string, string]>, body = BODY) =>
  rawRequest(url, { method: 'POST', target: '/v1/messages', headers: [['content-type', 'application/json'], ...headers], body });

test('a per-key budget holds against a throwaway x-api-key named in Connection: the key metered is the key forwarded', async (t) => {
  const up = await startMockAnthropic(t);
  // $0.05 input + $0.25 output = $0.30 a request, as the upstream bills it.
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 50_000, output_tokens: 50_000 } }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'per-key', scope: 'per_key', limit_usd: 1, window: 'day' })] },
  });
  const body = JSON.stringify({ model: HAIKU, max_tokens: 50_000, messages: [{ role: 'user', content: 'hi' }] });
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    const throwaway = `sk-ant-api03-throwaway-${randomBytes(8).toString('hex')}`;
    const res = await post(
      url,
      [
        ['authorization', `Bearer ${REAL}`],
        ['x-api-key', throwaway],
        ['connection', 'x-api-key'],
      ],
      body,
    );
    statuses.push(res.status);
  }
  await app.flush();
  const billedUsd = up.received.length * 0.3;
  assert.ok(billedUsd <= 1, `the upstream billed $${billedUsd.toFixed(2)} to one key under a $1 cap (statuses ${statuses.join(',')})`);
  assert.ok(statuses.includes(429));
  for (const r of up.received) {
    assert.equal(r.headers['authorization'], `Bearer ${REAL}`);
    assert.equal(r.headers['x-api-key'], undefined, 'the throwaway key never reached the upstream');
  }
  const records = await app.store.recent(20);
  assert.ok(records.length > 0);
  for (const r of records) assert.equal(r.keyId, hashKey(REAL), 'every record names the key the upstream received');
});

test('two different credentials: a 400 in Anthropic shape before anything is forwarded; the same key twice is one', async (t) => {
  const up = await startMockAnthropic(t);
  const { app, url } = await startProxy(t, { upstream: up.url });
  for (const headers of [
    [
      ['x-api-key', OTHER],
      ['authorization', `Bearer ${REAL}`],
    ],
    [
      ['x-api-key', REAL],
      ['x-api-key', OTHER],
    ],
    [
      ['authorization', `Bearer ${REAL}`],
      ['authorization', `Bearer ${OTHER}`],
    ],
    [['x-api-key', `${REAL},${OTHER}`]],
    // x_api_key is x-api-key to a server that merges `_` and `-` (CGI, WSGI).
    [
      ['x-api-key', OTHER],
      ['x_api_key', REAL],
    ],
  ] as Array<Array<[string, string]>>) {
    const res = await post(url, headers);
    assert.equal(res.status, 400, JSON.stringify(headers));
    const body = JSON.parse(res.body) as { type: string; error: { type: string; message: string }; request_id: string };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /more than one credential/);
    assert.ok(!res.body.includes(REAL.slice(12)) && !res.body.includes(OTHER.slice(12)), 'no key echoed');
  }
  await app.flush();
  assert.equal(up.received.length, 0);
  assert.deepEqual(await app.store.recent(1), []);

  const same = await post(url, [
    ['x-api-key', REAL],
    ['authorization', `Bearer ${REAL}`],
    ['X-Api-Key', REAL],
  ]);
  assert.equal(same.status, 200);
  assert.equal(up.received[0]?.headers['x-api-key'], REAL, 'one x-api-key, not a joined list');
  assert.equal(up.received[0]?.headers['authorization'], undefined, 'exactly one credential forwarded');

  const alias = await post(url, [
    ['x_api_key', REAL],
    ['X-Api-Key', REAL],
  ]);
  assert.equal(alias.status, 200);
  assert.equal(up.received[1]?.headers['x-api-key'], REAL, 'forwarded once, by its real name');
  assert.equal(up.received[1]?.headers['x_api_key'], undefined, 'the alias is not forwarded beside it');
  await app.flush();
  const [last] = await app.store.recent(1);
  assert.equal(last?.keyId, hashKey(REAL));
});

test('with the proxy key and a list of client key ids: a listed key is served as itself, others get a 401 and are never forwarded', async (t) => {
  const up = await startMockAnthropic(t);
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { upstream: { api_key: 'sk-ant-api03-proxy-own-key', client_key_ids: [hashKey(REAL)] } },
  });
  const client = (apiKey: string) => new Anthropic({ apiKey, baseURL: url, maxRetries: 0 });
  const params = { model: HAIKU, max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };
  await client(REAL).messages.create(params);
  const err = await client(OTHER)
    .messages.create(params)
    .catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.AuthenticationError, String(err));
  assert.equal((err.error as { error: { type: string } }).error.type, 'authentication_error');
  const none = await post(url, []);
  assert.equal(none.status, 401);
  assert.equal(up.received.length, 1, 'only the listed key was forwarded');
  assert.equal(up.received[0]?.headers['x-api-key'], 'sk-ant-api03-proxy-own-key');
  await app.flush();
  const records = await app.store.recent(5);
  assert.deepEqual(
    records.map((r) => r.keyId),
    [hashKey(REAL)],
  );
});

test('with the proxy key and no list: any client is served, recorded as unverified, and its key never forwarded', async (t) => {
  const up = await startMockAnthropic(t);
  const { app, url } = await startProxy(t, { upstream: up.url, config: { upstream: { api_key: 'sk-ant-api03-proxy-own-key' } } });
  const res = await post(url, [['authorization', `Bearer ${REAL}`]]);
  assert.equal(res.status, 200);
  assert.deepEqual(
    [up.received[0]?.headers['x-api-key'], up.received[0]?.headers['authorization']],
    ['sk-ant-api03-proxy-own-key', undefined],
  );
  await app.flush();
  const [r] = await app.store.recent(1);
  assert.equal(r?.keyId, 'unverified');
});

test('a header the upstream names in its Connection header does not reach the client', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({
    kind: 'raw',
    status: 200,
    headers: {
      'content-type': 'application/json',
      connection: 'keep-alive, X-Upstream-Hop',
      'x-upstream-hop': 'for the proxy only',
      'x-kept': 'end to end',
    },
    chunks: ['{"type":"message","usage":{"input_tokens":1,"output_tokens":1}}'],
  }));
  const { url } = await startProxy(t, { upstream: up.url });
  const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': REAL }, body: BODY });
  await res.arrayBuffer();
  assert.equal(res.headers.get('x-kept'), 'end to end');
  assert.equal(res.headers.get('x-upstream-hop'), null);
});
