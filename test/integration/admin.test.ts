/** /metrics, /_meter/health, /_meter/usage, the per-request log line, and where raw keys must never appear. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy, recordingLogger } from '../helpers/start-proxy.ts';
import { hashKey } from '../../src/http/identify.ts';

const MODEL = 'claude-haiku-4-5'; // alias of claude-haiku-4-5-20251001: $1 in / $5 out per MTok
const RAW_KEY = 'sk-ant-api03-SECRET-raw-key-never-stored';

test('metrics, usage and health reflect traffic by model, key and tag; raw keys appear nowhere', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 1000 } }));
  const logger = recordingLogger();
  const { app, url } = await startProxy(t, { upstream: up.url, logger, config: { metrics: { key_label: true, tag_label: true } } });
  const c = new Anthropic({ apiKey: RAW_KEY, baseURL: url, maxRetries: 0, defaultHeaders: { 'x-meter-tag': 'team-a' } });
  for (let i = 0; i < 3; i++) await c.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  await c.messages.stream({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
  await app.recorder.flush();
  const keyId = hashKey(RAW_KEY);
  const canonical = 'claude-haiku-4-5-20251001';

  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(
    metrics,
    new RegExp(`claude_meter_requests_total\\{model="${canonical}",upstream="default",status="200",key_id="${keyId}",tag="team-a"\\} 4`),
  );
  assert.match(metrics, new RegExp(`claude_meter_tokens_total\\{model="${canonical}",upstream="default",kind="cache_read"\\} 4000`));
  // 4 × (100×$1 + 10×$5 + 1000×$0.10) / 1e6 = 4 × $0.00025 = $0.001
  assert.match(metrics, new RegExp(`claude_meter_cost_usd_total\\{model="${canonical}"\\} 0\\.001\\n`));
  for (const name of [
    'request_duration_seconds_bucket',
    'time_to_first_token_seconds_bucket',
    'upstream_errors_total',
    'usage_missing_total',
    'unpriced_requests_total',
  ]) {
    assert.match(metrics, new RegExp(`claude_meter_${name}`), name);
  }
  assert.ok(!metrics.includes(RAW_KEY));

  for (const by of ['model', 'key', 'key_id', 'tag', 'upstream', 'all'] as const) {
    const res = await fetch(`${url}/_meter/usage?window=minute&by=${by}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      by: string;
      rows: { value: string; requests: number; tokens: { input: number }; cost_usd: number; cost_pico_usd: string }[];
    };
    assert.equal(body.by, by === 'key' ? 'key_id' : by, 'the answer names the key dimension key_id');
    const total = body.rows.reduce((a, r) => a + r.requests, 0);
    assert.equal(total, 4, `by=${by}`);
    const expectValue = { model: canonical, key: keyId, key_id: keyId, tag: 'team-a', upstream: 'default', all: '*' }[by];
    assert.ok(
      body.rows.every((r) => r.value === expectValue),
      `by=${by}: ${JSON.stringify(body.rows.map((r) => r.value))}`,
    );
    assert.equal(
      body.rows.reduce((a, r) => a + BigInt(r.cost_pico_usd), 0n),
      1_000_000_000n,
    );
  }
  const bad = await fetch(`${url}/_meter/usage?window=fortnight`);
  assert.equal(bad.status, 400);

  const health = (await (await fetch(`${url}/_meter/health`)).json()) as Record<string, unknown>;
  assert.equal(health['status'], 'ok');
  assert.equal((health['store'] as { kind: string }).kind, 'memory');

  // Exactly one log line per request, carrying the hashed key and never the raw one.
  const requestLines = logger.lines.filter((l) => l.msg === 'request');
  assert.equal(requestLines.length, 4);
  assert.ok(requestLines.every((l) => l.obj['key_id'] === keyId));
  // The one upstream there is bills the list price in USD.
  assert.deepEqual(
    requestLines.map((l) => [l.obj['upstream'], l.obj['billed'], l.obj['currency']]),
    requestLines.map((l) => ['default', l.obj['cost_usd'], 'USD']),
  );
  assert.ok(!JSON.stringify(logger.lines).includes(RAW_KEY));
  const records = await app.store.recent(10);
  assert.ok(!JSON.stringify(records).includes(RAW_KEY));
  // SDK 1.x sends the key as a bearer token; either way the upstream gets it unchanged.
  assert.ok(up.received.every((r) => r.headers['authorization'] === `Bearer ${RAW_KEY}` || r.headers['x-api-key'] === RAW_KEY));
});

test('meter routes are never forwarded upstream', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, { upstream: up.url });
  assert.equal((await fetch(`${url}/_meter/nope`)).status, 404);
  assert.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
  assert.equal(up.received.length, 0);
});

test('/_meter/usage carries a total over every row of the range, cost exact from the pico sums', async (t) => {
  const up = await startMockAnthropic(t);
  let n = 0;
  up.setScenario(() => ({
    kind: 'message',
    usage: { input_tokens: 100 + n++, output_tokens: 7, cache_creation_input_tokens: 30, cache_read_input_tokens: 5 },
  }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  for (const [key, model] of [
    ['k1', MODEL],
    ['k2', MODEL],
    ['k1', 'claude-sonnet-4-6'],
  ] as const) {
    const c = new Anthropic({ apiKey: key, baseURL: url, maxRetries: 0 });
    await c.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  }
  await app.recorder.flush();
  for (const by of ['model', 'key', 'all'] as const) {
    const body = (await (await fetch(`${url}/_meter/usage?window=minute&by=${by}`)).json()) as {
      rows: Array<{ requests: number; tokens: Record<string, number>; cost_pico_usd: string }>;
      total: { requests: number; errors: number; tokens: Record<string, number>; cost_usd: number; cost_pico_usd: string };
    };
    assert.equal(body.total.requests, 3, by);
    assert.equal(body.total.errors, 0);
    assert.deepEqual(body.total.tokens, { input: 303, output: 21, cache_creation_5m: 90, cache_creation_1h: 0, cache_read: 15 });
    const pico = body.rows.reduce((a, r) => a + BigInt(r.cost_pico_usd), 0n);
    assert.equal(body.total.cost_pico_usd, pico.toString());
    assert.equal(body.total.cost_usd, Number(pico) / 1e12);
  }
  const empty = (await (await fetch(`${url}/_meter/usage?window=minute&from=0&to=60000`)).json()) as {
    rows: unknown[];
    total: { requests: number; cost_pico_usd: string };
  };
  assert.deepEqual([empty.rows.length, empty.total.requests, empty.total.cost_pico_usd], [0, 0, '0']);
});

test('status page routes: files without the token, data with it; top, recent and chart answer', async (t) => {
  const up = await startMockAnthropic(t);
  let calls = 0;
  up.setScenario(() =>
    calls++ === 0
      ? { kind: 'error', status: 429, type: 'rate_limit_error' }
      : { kind: 'message', usage: { input_tokens: 10, output_tokens: 5 } },
  );
  const token = 'Q7x-secret-9Zp';
  const { app, url } = await startProxy(t, { upstream: up.url, config: { admin: { token } } });
  const c = new Anthropic({ apiKey: RAW_KEY, baseURL: url, maxRetries: 0, defaultHeaders: { 'x-meter-tag': 'ui' } });
  await c.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch(() => null);
  await c.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  await app.recorder.flush();

  for (const [path, type] of [
    ['/_meter/', 'text/html'],
    ['/_meter/status/app.js', 'text/javascript'],
    ['/_meter/status/chart.js', 'text/javascript'],
    ['/_meter/status/style.css', 'text/css'],
  ] as const) {
    const res = await fetch(`${url}${path}`);
    assert.equal(res.status, 200, path);
    assert.ok((res.headers.get('content-type') ?? '').startsWith(type), path);
    assert.ok(!(await res.text()).includes(token));
  }
  assert.equal((await fetch(`${url}/_meter/status/nope.js`)).status, 401, 'anything else under /_meter/ needs the token');
  const auth = { authorization: `Bearer ${token}` };
  for (const route of ['top', 'recent', 'chart']) assert.equal((await fetch(`${url}/_meter/${route}`)).status, 401, route);

  const top = (await (await fetch(`${url}/_meter/top`, { headers: auth })).json()) as Record<string, unknown>;
  const keyId = hashKey(RAW_KEY);
  assert.equal((top['total'] as { requests: number }).requests, 2);
  assert.deepEqual(
    (top['key_ids'] as Array<{ value: string; requests: number }>).map((k) => [k.value, k.requests]),
    [[keyId, 2]],
  );
  assert.deepEqual(
    (top['tags'] as Array<{ value: string }>).map((k) => k.value),
    ['ui'],
  );
  // The refused request's record keeps the model id as the client wrote it (no usage, so it was never priced).
  assert.deepEqual((top['models'] as Array<{ value: string }>).map((m) => m.value).sort(), [
    'claude-haiku-4-5',
    'claude-haiku-4-5-20251001',
  ]);
  assert.equal((await fetch(`${url}/_meter/top?limit=0`, { headers: auth })).status, 400);

  const recent = (await (await fetch(`${url}/_meter/recent`, { headers: auth })).json()) as {
    status: number;
    rows: Array<Record<string, unknown>>;
  };
  assert.equal(recent.status, 429);
  assert.equal(recent.rows.length, 1);
  assert.deepEqual(
    [recent.rows[0]?.['reason'], recent.rows[0]?.['detail'], recent.rows[0]?.['key_id']],
    ['upstream', 'upstream answered 429 rate_limit_error', keyId],
  );

  const chart = (await (await fetch(`${url}/_meter/chart`, { headers: auth })).json()) as {
    spent: Array<[string, number]>;
    currency: string;
    limit: null;
    limit_usd: null;
    forecast: null;
    source: string;
  };
  assert.equal(chart.source, 'meter_store');
  assert.equal(chart.currency, 'USD', "all traffic: the meter store's dollars");
  assert.equal(chart.spent.at(-1)?.[1], (top['total'] as { cost_usd: number }).cost_usd);
  assert.deepEqual([chart.limit, chart.limit_usd, chart.forecast], [null, null, null]);
  assert.equal((await fetch(`${url}/_meter/chart?budget=nope`, { headers: auth })).status, 404);
  const all = JSON.stringify([top, recent, chart]);
  assert.ok(!all.includes(RAW_KEY));
});
