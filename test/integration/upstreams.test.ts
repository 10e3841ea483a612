/**
 * Several upstreams over real sockets: the default and two routed mock upstreams. Requests are
 * routed by prefix (removed from the path the upstream sees) or by x-meter-upstream where an
 * upstream allows it; each upstream gets only the proxy's own key, in the header of the request's
 * dialect, and never a client credential header of any dialect; timeouts are per upstream.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMockAnthropic, type MockUpstream } from '../helpers/mock-anthropic.ts';
import { routed, startProxy } from '../helpers/start-proxy.ts';

const BODY = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
/** A client credential in every dialect's header. */
const EVERY_CREDENTIAL = {
  'x-api-key': 'sk-client-1',
  authorization: 'Bearer sk-client-1',
  'api-key': 'sk-client-1',
  api_key: 'sk-client-1',
};

async function setup(t: TestContext) {
  const [def, hs, relay] = [await startMockAnthropic(t), await startMockAnthropic(t), await startMockAnthropic(t)];
  const upstreams = [
    routed({
      name: 'holysheep',
      url: `${hs.url}/relay-token-7`,
      api: 'anthropic',
      route: '/holysheep',
      api_key: 'sk-hs-proxy',
      select_by_header: true,
      headers_timeout_ms: 300,
    }),
    routed({ name: 'relay-openai', url: relay.url, api: 'openai', route: '/relay-openai', api_key: 'sk-relay-proxy' }),
  ];
  const proxy = await startProxy(t, { upstream: def.url, config: { upstream: { name: 'anthropic' }, upstreams } });
  const post = (path: string, headers: Record<string, string> = {}, body = BODY) =>
    fetch(`${proxy.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { ...proxy, def, hs, relay, post };
}

const urls = (m: MockUpstream) => m.received.map((r) => r.url);
const credentialsSeen = (m: MockUpstream, i = 0) => {
  const h = m.received[i]?.headers ?? {};
  return Object.fromEntries(['x-api-key', 'authorization', 'api-key', 'api_key'].filter((k) => k in h).map((k) => [k, h[k]]));
};

test('a route prefix selects its upstream and is removed: the SDK with a base URL under the prefix reaches the relay, metered', async (t) => {
  const { app, def, hs, relay, url } = await setup(t);
  hs.setScenario(() => ({ kind: 'message', usage: { input_tokens: 11, output_tokens: 7 } }));
  const sdk = new Anthropic({ apiKey: 'sk-client-1', baseURL: `${url}/holysheep`, maxRetries: 0 });
  const msg = await sdk.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(msg.usage.input_tokens, 11);
  assert.deepEqual(urls(hs), ['/relay-token-7/v1/messages'], "the upstream URL's own path, then the path without the prefix");
  assert.deepEqual([urls(def), urls(relay)], [[], []], 'no other upstream contacted');
  await app.recorder.flush();
  const [r] = await app.store.recent(1);
  assert.equal(r?.path, '/v1/messages', 'the meter sees the path the upstream sees');
  assert.equal(r?.usage?.input, 11);
  assert.equal(r?.usage?.output, 7);
});

test('each upstream gets its own key in the request dialect’s header and no client credential header of any dialect', async (t) => {
  const { def, hs, relay, post, url } = await setup(t);
  for (const path of ['/holysheep/v1/messages', '/relay-openai/v1/chat/completions', '/v1/messages']) {
    const res = await post(path, EVERY_CREDENTIAL);
    assert.equal(res.status, 200, path);
    await res.arrayBuffer();
  }
  assert.deepEqual(credentialsSeen(hs), { 'x-api-key': 'sk-hs-proxy' });
  assert.deepEqual(credentialsSeen(relay), { authorization: 'Bearer sk-relay-proxy' });
  assert.deepEqual(urls(relay), ['/v1/chat/completions']);
  // The default has no api_key: the client's own credential goes, exactly one, in the dialect's preferred header.
  assert.deepEqual(credentialsSeen(def), { 'x-api-key': 'sk-client-1' });

  // The official openai SDK, as a client of the OpenAI-format upstream: its bearer token never reaches it.
  const openai = new OpenAI({ apiKey: 'sk-openai-client', baseURL: `${url}/relay-openai/v1`, maxRetries: 0 });
  await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.deepEqual(urls(relay), ['/v1/chat/completions', '/v1/chat/completions']);
  assert.deepEqual(credentialsSeen(relay, 1), { authorization: 'Bearer sk-relay-proxy' });
  for (const m of [def, hs, relay])
    for (const r of m.received) assert.ok(!JSON.stringify(r.headers).includes('sk-openai-client') && !('x-meter-upstream' in r.headers));
});

test('x-meter-upstream selects an upstream that allows it; naming another is a 400 never forwarded; the prefix wins', async (t) => {
  const { def, hs, relay, post } = await setup(t);
  const ok = await post('/v1/messages', { 'x-meter-upstream': 'holysheep', 'x-api-key': 'sk-client-1' });
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
  assert.deepEqual(urls(hs), ['/relay-token-7/v1/messages']);
  assert.deepEqual(credentialsSeen(hs), { 'x-api-key': 'sk-hs-proxy' });

  for (const name of ['relay-openai', 'nope']) {
    const res = await post('/v1/messages', { 'x-meter-upstream': name, 'x-api-key': 'sk-client-1' });
    assert.equal(res.status, 400, name);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, 'error', "the default upstream's dialect's error shape");
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /x-meter-upstream names no upstream that may be selected by header/);
  }
  assert.deepEqual([urls(def), urls(relay)], [[], []], 'refused requests reach no upstream');

  // The default may be named; the prefix wins over any header.
  const named = await post('/v1/messages', { 'x-meter-upstream': 'anthropic' });
  await named.arrayBuffer();
  const both = await post('/relay-openai/v1/chat/completions', { 'x-meter-upstream': 'holysheep' });
  assert.equal(both.status, 200);
  await both.arrayBuffer();
  assert.deepEqual([urls(def), urls(relay), hs.received.length], [['/v1/messages'], ['/v1/chat/completions'], 1]);
});

test('a path only on a segment boundary is routed; anything else goes to the default, path untouched', async (t) => {
  const { def, hs, post } = await setup(t);
  for (const path of ['/holysheepx/v1/messages', '/HOLYSHEEP/v1/messages', '/holysheep/v1/messages', '/holysheep'])
    await (await post(path)).arrayBuffer();
  assert.deepEqual(urls(def), ['/holysheepx/v1/messages', '/HOLYSHEEP/v1/messages']);
  assert.deepEqual(urls(hs), ['/relay-token-7/v1/messages', '/relay-token-7/']);
});

test('timeouts are per upstream: the routed one times out at its own headers_timeout_ms while the default still waits', async (t) => {
  const { def, hs, post, url } = await setup(t);
  def.setScenario(() => ({ kind: 'hang' }));
  hs.setScenario(() => ({ kind: 'hang' }));
  const ac = new AbortController();
  let settled = false;
  const atDefault = fetch(`${url}/v1/messages`, { method: 'POST', body: BODY, signal: ac.signal }).then(
    () => (settled = true),
    () => (settled = true),
  );
  const res = await post('/holysheep/v1/messages');
  assert.equal(res.status, 504);
  const body = (await res.json()) as { error: { type: string; message: string } };
  assert.equal(body.error.type, 'timeout_error');
  assert.ok(!body.error.message.includes('relay-token-7'), 'the error names the host, not the URL path');
  assert.equal(settled, false, 'the default upstream (10 minutes) is still waiting');
  ac.abort();
  await atDefault;
});

test('/_meter/health lists every upstream: name, api, route and the URL origin only', async (t) => {
  const { url, def, hs, relay } = await setup(t);
  const text = await (await fetch(`${url}/_meter/health`)).text();
  const health = JSON.parse(text) as { upstream: string; upstreams: unknown[] };
  assert.ok(!text.includes('relay-token-7'));
  assert.ok(!text.includes('sk-'), 'no key');
  assert.equal(health.upstream, def.url, 'the default, as before');
  assert.deepEqual(health.upstreams, [
    {
      name: 'anthropic',
      api: 'anthropic',
      route: null,
      url: def.url,
      usage_semantics: { configured: 'auto', semantics: 'openai', proven: false, evidence: null },
    },
    {
      name: 'holysheep',
      api: 'anthropic',
      route: '/holysheep',
      url: `${hs.url}/***`,
      usage_semantics: { configured: 'auto', semantics: 'openai', proven: false, evidence: null },
    },
    {
      name: 'relay-openai',
      api: 'openai',
      route: '/relay-openai',
      url: relay.url,
      usage_semantics: { configured: 'auto', semantics: 'openai', proven: false, evidence: null },
    },
  ]);
});
