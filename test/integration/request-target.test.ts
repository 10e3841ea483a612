/**
 * Request-target variants through a real proxy, sent byte for byte over raw sockets: each is
 * either refused with a 400 in Anthropic's error shape before any upstream byte (the mock saw
 * nothing, nothing was recorded), or reaches the upstream as exactly the canonical target that
 * the meter recorded and the budget met. The table is generated from the metered path, so
 * every spelling of it is tried; a budget of $1 holds whichever spelling is used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { recordingLogger, startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { rawRequest } from '../helpers/raw-http.ts';

const HAIKU = 'claude-haiku-4-5'; // $1 in / $5 out per MTok
const BODY = JSON.stringify({ model: HAIKU, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
const KEY = 'sk-ant-api03-target-test-key';

/** `parser`: refused by Node's HTTP parser before any of our code runs, with its bare 400. */
type Want = { canonical: string; route: 'metered' | 'free' | 'other' } | 'refused' | 'parser';
interface Case {
  method: string;
  target: string;
  want: Want;
}

const metered = (canonical = '/v1/messages'): Want => ({ canonical, route: 'metered' });

/** Spellings of /v1/messages that differ by case or by what follows its last segment. */
const LOOSE = [
  '/V1/Messages',
  '/v1/MESSAGES',
  '/v1/messages.',
  '/v1/messages..',
  '/v1/messages%20',
  '/v1/messages%2e',
  '/v1/Messages.%20.',
];

/** Every unreserved character of the metered path escaped on its own, in lower- and upper-case hex. */
function escapedVariants(path: string): Case[] {
  const out: Case[] = [];
  for (let i = 0; i < path.length; i++) {
    if (path[i] === '/') continue;
    const hex = path.charCodeAt(i).toString(16);
    for (const h of [hex.toLowerCase(), hex.toUpperCase()]) {
      out.push({ method: 'POST', target: `${path.slice(0, i)}%${h}${path.slice(i + 1)}`, want: metered() });
    }
  }
  return out;
}

const CASES: Case[] = [
  { method: 'POST', target: '/v1/messages', want: metered() },
  ...escapedVariants('/v1/messages'),
  // Dot segments, raw and escaped, mixed case; empty segments.
  ...['/v1/./messages', '/v1/%2e/messages', '/v1/%2E/messages', '/./v1/messages', '/v1/x/../messages'].map((target) => ({
    method: 'POST',
    target,
    want: metered(),
  })),
  { method: 'POST', target: '/v1/x/%2e%2e/messages', want: metered() },
  { method: 'POST', target: '/v1/x/.%2E/messages', want: metered() },
  { method: 'POST', target: '/v2/%2E%2e/v1/messages', want: metered() },
  { method: 'POST', target: '/../v1/messages', want: metered() },
  { method: 'POST', target: '/v1/messages/.', want: metered('/v1/messages/') },
  { method: 'POST', target: '//v1//messages', want: metered() },
  // Spellings an upstream that ignores case or trailing dots and spaces reads as /v1/messages:
  // metered (loose toward metering), forwarded exactly as canonicalized.
  ...LOOSE.map((target) => ({ method: 'POST', target, want: metered(target.replace('%2e', '.')) })),
  { method: 'POST', target: '/v1/Messages/Count_Tokens.', want: { canonical: '/v1/Messages/Count_Tokens.', route: 'free' } },
  // Absolute form: the authority is ignored, the path is what counts.
  { method: 'POST', target: 'http://other.example/v1/messages', want: metered() },
  { method: 'POST', target: 'HTTP://other.example:9/v1/%6dessages', want: metered() },
  { method: 'POST', target: 'https://127.0.0.1:1/v1/./messages?beta=true', want: metered() },
  // The other routes keep their meaning under the same normalization.
  { method: 'POST', target: '/v1/messages/%63ount_tokens', want: { canonical: '/v1/messages/count_tokens', route: 'free' } },
  { method: 'GET', target: '/v1/%6dodels', want: { canonical: '/v1/models', route: 'other' } },
  { method: 'GET', target: '/v1/files/a%7cb%20c', want: { canonical: '/v1/files/a%7Cb%20c', route: 'other' } },
  // What servers read in more than one way.
  ...[
    '/v1%2Fmessages',
    '/v1%2fmessages',
    '/v1/%2e%2e%2fmessages',
    '/v1%5cmessages',
    '/v1%5Cmessages',
    '/v1\\messages',
    '/v1/messages;x=1',
    '/v1;x/messages',
    '/v1/messages%3B',
    '/v1/messages%00',
    '/v1/messages%0d%0a',
    '/v1/%c0%afmessages',
    '/v1/%e0%80%aemessages',
    '/v1/%zzmessages',
    '/v1/messages%4',
    '/v1/messages%3Fx',
    '/v1/%256dessages',
    '/v1/messages#frag',
    'http://other.example/v1%2Fmessages',
  ].map((target) => ({ method: 'POST', target, want: 'refused' as const })),
  { method: 'GET', target: '*', want: 'refused' },
  { method: 'POST', target: 'other.example:443', want: 'parser' },
  { method: 'POST', target: '/v1/messages\u00e9', want: 'parser' },
  { method: 'POST', target: '/v1/messages\u007f', want: 'parser' },
];

test('request-target variants: refused before the upstream, or forwarded, recorded and metered as exactly the canonical target', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 100, output_tokens: 10 } }));
  const { app, url } = await startProxy(t, { upstream: up.url });

  for (const c of CASES) {
    const what = `${c.method} ${c.target}`;
    const sent = up.received.length;
    const [before] = await app.store.recent(1);
    const res = await rawRequest(url, {
      method: c.method,
      target: c.target,
      headers: [
        ['x-api-key', KEY],
        ['content-type', 'application/json'],
      ],
      body: c.method === 'POST' ? BODY : '',
    });
    await app.flush();
    const [after] = await app.store.recent(1);
    if (c.want === 'refused' || c.want === 'parser') {
      assert.equal(res.status, 400, what);
      assert.equal(up.received.length, sent, `${what}: the upstream saw nothing`);
      assert.equal(after?.id, before?.id, `${what}: nothing recorded`);
      if (c.want === 'parser') continue;
      const body = JSON.parse(res.body) as { type: string; error: { type: string; message: string } };
      assert.equal(body.type, 'error', what);
      assert.equal(body.error.type, 'invalid_request_error', what);
      assert.match(body.error.message, /^claude-meter: request target refused: /, what);
      continue;
    }
    assert.equal(res.status, 200, what);
    assert.equal(up.received.length, sent + 1, what);
    const query = c.target.includes('?') ? c.target.slice(c.target.indexOf('?')) : '';
    assert.equal(up.received.at(-1)?.url, c.want.canonical + query, `${what}: the upstream got the canonical target`);
    assert.ok(after && after.id !== before?.id, `${what}: recorded`);
    assert.equal(after.path, c.want.canonical, `${what}: recorded as the canonical path`);
    assert.equal(after.keyId.length, 16, what);
    if (c.want.route === 'metered') {
      assert.deepEqual([after.usage?.input, after.usage?.output, after.usageMissing], [100, 10, null], `${what}: metered`);
      assert.ok(after.costPicoUsd > 0 && !after.free, `${what}: priced`);
    } else {
      assert.equal(after.usage, null, `${what}: not metered`);
    }
  }
});

test('OPTIONS * is answered by the proxy: 204 with Allow, never forwarded, never recorded; CONNECT gets nothing', async (t) => {
  const up = await startMockAnthropic(t);
  const logger = recordingLogger();
  const { app, url } = await startProxy(t, { upstream: up.url, logger });
  const res = await rawRequest(url, { method: 'OPTIONS', target: '*' });
  assert.equal(res.status, 204);
  assert.match(res.headers['allow'] ?? '', /\bPOST\b/);
  const connect = await rawRequest(url, { method: 'CONNECT', target: 'api.anthropic.com:443' });
  assert.equal(connect.status, 0, 'the connection is closed unanswered');
  await app.flush();
  assert.equal(up.received.length, 0);
  assert.deepEqual(await app.store.recent(1), []);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.doesNotMatch(metrics, /^claude_meter_(requests|upstream_errors)_total\{/m, 'not counted as a request, nor as an upstream failure');
});

test('the query is forwarded but never recorded or logged', async (t) => {
  const up = await startMockAnthropic(t);
  const logger = recordingLogger();
  const { app, url } = await startProxy(t, { upstream: up.url, logger });
  const secret = 'sk-ant-api03-in-the-query-0123456789';
  const res = await rawRequest(url, {
    method: 'POST',
    target: `/v1/messages?beta=true&api_key=${secret}`,
    headers: [['content-type', 'application/json']],
    body: BODY,
  });
  assert.equal(res.status, 200);
  await app.flush();
  assert.equal(up.received[0]?.url, `/v1/messages?beta=true&api_key=${secret}`);
  const [r] = await app.store.recent(1);
  assert.equal(r?.path, '/v1/messages');
  const logged = JSON.stringify(logger.lines);
  assert.ok(logged.includes('"path":"/v1/messages"'));
  assert.ok(!logged.includes(secret.slice(8)), 'the key in the query is in no log line');
});

test('a dot segment cannot climb out of the path prefix of a relay upstream', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, { upstream: `${up.url}/relay/token-abc` });
  const res = await rawRequest(url, {
    method: 'POST',
    target: '/../../other/%2e%2e/v1/messages',
    headers: [['content-type', 'application/json']],
    body: BODY,
  });
  assert.equal(res.status, 200);
  assert.equal(up.received[0]?.url, '/relay/token-abc/v1/messages');
});

test('a variant of the admin path reaches the admin routes and their token, never the upstream', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, { upstream: up.url, config: { admin: { token: 'admin-secret' } } });
  for (const target of ['/%5Fmeter/usage', '/v1/../_meter/usage', 'http://x/_meter/%75sage', '/./metrics']) {
    const res = await rawRequest(url, { method: 'GET', target });
    assert.ok(res.status === 401 || (target.endsWith('metrics') && res.status === 200), `${target}: ${res.status}`);
  }
  assert.equal(up.received.length, 0);
});

test('a budget of $1 cannot be exceeded through any spelling of /v1/messages (the walk-around of issue 17)', async (t) => {
  const up = await startMockAnthropic(t);
  // $0.05 input + $0.25 output = $0.30 a request, as the upstream bills it.
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 50_000, output_tokens: 50_000 } }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'cap', limit_usd: 1, window: 'day' })] },
  });
  const body = JSON.stringify({ model: HAIKU, max_tokens: 50_000, messages: [{ role: 'user', content: 'hi' }] });
  const spellings = ['/v1/%6dessages', '/v1/./messages', '/v1/%2e/messages', 'http://other.example/v1/messages', '//v1/messages', ...LOOSE];
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await rawRequest(url, {
      method: 'POST',
      target: spellings[i % spellings.length] as string,
      headers: [
        ['x-api-key', KEY],
        ['content-type', 'application/json'],
      ],
      body,
    });
    statuses.push(res.status);
  }
  await app.flush();
  const billedUsd = up.received.length * 0.3;
  assert.ok(billedUsd <= 1, `the upstream billed $${billedUsd.toFixed(2)} against a $1 cap (statuses ${statuses.join(',')})`);
  assert.ok(statuses.includes(429), 'the cap refused the rest');
  const budgets = (await (await fetch(`${url}/_meter/budgets`)).json()) as { budgets: Array<{ spent_usd: number | string }> };
  assert.equal(Number(budgets.budgets[0]?.spent_usd), Number(billedUsd.toFixed(6)), 'the budget counted what the upstream billed');
});

test('method and URL override headers never reach the upstream, so it routes the request we metered', async (t) => {
  const up = await startMockAnthropic(t);
  const { app, url } = await startProxy(t, { upstream: up.url });
  const overrides: Array<[string, string]> = [
    ['X-HTTP-Method-Override', 'POST'],
    ['X-HTTP-Method', 'POST'],
    ['X-Method-Override', 'POST'],
    ['X-Original-URL', '/v1/messages'],
    ['X-Rewrite-URL', '/v1/messages'],
  ];
  const res = await rawRequest(url, { method: 'POST', target: '/v1/models', headers: [['x-api-key', KEY], ...overrides], body: BODY });
  assert.equal(res.status, 200);
  await app.flush();
  const sent = up.received[0];
  assert.equal(sent?.url, '/v1/models');
  for (const [name] of overrides) assert.equal(sent?.headers[name.toLowerCase()], undefined, name);
  const [r] = await app.store.recent(1);
  assert.equal(r?.path, '/v1/models');
});
