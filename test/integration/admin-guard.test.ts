/** The admin surface's guards: /metrics behind admin.token when admin.protect_metrics says so, and health without the upstream URL's secrets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy, testConfig } from '../helpers/start-proxy.ts';

const TOKEN = 'adm-Q7x-9Zp';

test('admin.protect_metrics: /metrics needs the admin token (401 without, 200 with); off by default; a reload switches it', async (t) => {
  const up = await startMockAnthropic(t);
  const open = await startProxy(t, { upstream: up.url, config: { admin: { token: TOKEN } } });
  assert.equal((await fetch(`${open.url}/metrics`)).status, 200, 'default: /metrics stays open for scrapers without credentials');

  const { app, url, config } = await startProxy(t, { upstream: up.url, config: { admin: { token: TOKEN, protect_metrics: true } } });
  for (const path of ['/metrics', '/metrics?name[]=claude_meter_requests_total']) {
    const refused = await fetch(`${url}${path}`);
    assert.equal(refused.status, 401, path);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="claude-meter"');
    assert.ok(!(await refused.text()).includes('claude_meter_'), 'no metric leaks with the refusal');
    assert.equal((await fetch(`${url}${path}`, { headers: { authorization: 'Bearer wrong-token' } })).status, 401, path);
  }
  const allowed = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(allowed.status, 200);
  assert.match(await allowed.text(), /claude_meter_store_up/);
  assert.equal((await fetch(`${url}/_meter/health`)).status, 200, 'health stays open for probes');

  app.reload(testConfig({ ...config, admin: { token: TOKEN, protect_metrics: false } }));
  assert.equal((await fetch(`${url}/metrics`)).status, 200, 'reloaded: open again');
});

test('/_meter/health shows the upstream origin only: userinfo, path and query of upstream.url are ***', async (t) => {
  const up = await startMockAnthropic(t);
  const secret = 'relay-tok-4f1c9e';
  const upstream = `${up.url.replace('http://', 'http://me:pw-77@')}/relay/${secret}?k=v-88`;
  const { url } = await startProxy(t, { upstream });
  const text = await (await fetch(`${url}/_meter/health`)).text();
  const health = JSON.parse(text) as { upstream: string };
  assert.equal(health.upstream, `${up.url.replace('http://', 'http://***@')}/***`);
  for (const s of [secret, 'pw-77', 'v-88', 'relay']) assert.ok(!text.includes(s), s);
  // The forwarder still uses the whole URL: the relay path reaches the upstream.
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-x' },
    body: '{"model":"claude-haiku-4-5","max_tokens":5,"messages":[]}',
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  assert.equal(up.received[0]?.url, `/relay/${secret}/v1/messages`);
});
