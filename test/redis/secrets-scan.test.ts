/**
 * No fragment of a secret is stored or shown. Traffic through two proxies on one real Redis
 * (one forwarding each client's key, one sending its own key and checking client key ids),
 * with real-looking keys, a relay-style upstream URL whose path holds a token, upstream
 * errors (401, 500), budget refusals, a key in the query string, refused targets and refused
 * credentials; then every Redis key and value (DUMP, uncompressed, and each value read by its
 * type), every log line, /metrics and every /_meter JSON route are scanned for any 8
 * characters of any key, of the URL token or of the admin token. The one exception is the key
 * hints hash (`reconcile`): it must hold, per key id, exactly what Anthropic itself shows of that
 * key (`partial_key_hint`: its first 16 and last 4 characters), and nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { Redis } from 'ioredis';
import { startMockAnthropic, type Received } from '../helpers/mock-anthropic.ts';
import { recordingLogger, startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { connectRedis } from './connect.ts';
import { hashKey } from '../../src/http/identify.ts';
import { partialKeyHint } from '../../src/api/anthropic/key-hint.ts';

const FRAGMENT = 8;
const HAIKU = 'claude-haiku-4-5';
const apiKey = (): string => `sk-ant-api03-${randomBytes(60).toString('base64url')}-${randomBytes(4).toString('hex')}AA`;

const KEYS = {
  good: apiKey(),
  bearer: apiKey(),
  rejected: apiKey(), // the upstream answers 401
  failing: apiKey(), // the upstream answers 500
  capped: apiKey(), // meets a budget that refuses
  query: apiKey(), // sent in the query string
  throwaway: apiKey(), // named in Connection
  second: apiKey(), // with `good`: two credentials
  listed: apiKey(), // accepted by the key-checking proxy
  unlisted: apiKey(), // refused by it
  proxyOwn: apiKey(), // that proxy's own upstream key
};
const URL_TOKEN = randomBytes(24).toString('base64url');
const ADMIN_TOKEN = `admin-${randomBytes(24).toString('base64url')}`;
const SECRETS = [...Object.values(KEYS), URL_TOKEN, ADMIN_TOKEN];

/** Every run of FRAGMENT characters of every secret. */
const fragments = new Set(SECRETS.flatMap((s) => Array.from({ length: s.length - FRAGMENT + 1 }, (_, i) => s.slice(i, i + FRAGMENT))));

function leaks(text: string): string[] {
  const found = new Set<string>();
  for (let i = 0; i + FRAGMENT <= text.length; i++) {
    const f = text.slice(i, i + FRAGMENT);
    if (fragments.has(f)) found.add(f);
  }
  return [...found];
}

function assertClean(where: string, text: string): void {
  assert.ok(text.length > 0, `${where}: scanned something`);
  const found = leaks(text);
  assert.deepEqual(found, [], `${where} holds a fragment of a secret`);
}

const credentialOf = (r: Received): string => String(r.headers['x-api-key'] ?? r.headers['authorization'] ?? '');

test('no fragment of a key, the upstream URL token or the admin token reaches Redis, a log line, /metrics or /_meter', async (t) => {
  // Uncompressed, so DUMP shows every string as written. Closed after the proxies (hooks run in order).
  const redis = await startRedis({ args: ['--rdbcompression', 'no'] });
  const up = await startMockAnthropic(t);
  up.setScenario((r) => {
    const cred = credentialOf(r);
    if (cred.includes(KEYS.rejected)) return { kind: 'error', status: 401, type: 'authentication_error' };
    if (cred.includes(KEYS.failing)) return { kind: 'error', status: 500, type: 'api_error' };
    return { kind: 'message', usage: { input_tokens: 2000, output_tokens: 300 } };
  });
  const logger = recordingLogger();
  const relay = `${up.url}/relay/${URL_TOKEN}`;
  const open = await startProxy(t, {
    upstream: relay,
    logger,
    config: {
      store: { redis: { url: redis.url, key_prefix: 'cm' } },
      metrics: { key_label: true, tag_label: true },
      admin: { token: ADMIN_TOKEN },
      budgets: [
        budget({
          name: 'capped',
          scope: 'per_key',
          match: { key: [hashKey(KEYS.capped)], tag: [], model: [], path: [], upstream: [] },
          limit_usd: 0.000001,
        }),
        budget({ name: 'per-tag', scope: 'per_tag', limit_usd: 100 }),
        budget({ name: 'global', limit_usd: 1000, alert_at: [0.5] }),
      ],
    },
  });
  const checkingLogger = recordingLogger();
  const checking = await startProxy(t, {
    upstream: relay,
    logger: checkingLogger,
    config: {
      upstream: { api_key: KEYS.proxyOwn, client_key_ids: [hashKey(KEYS.listed)] },
      store: { redis: { url: redis.url, key_prefix: 'cm2' } },
      metrics: { key_label: true, tag_label: true },
      admin: { token: ADMIN_TOKEN },
      budgets: [budget({ name: 'per-key', scope: 'per_key', limit_usd: 100 })],
    },
  });
  t.after(() => redis.close());

  const body = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ model: HAIKU, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra });
  const send = (proxy: string, target: string, headers: Array<[string, string]>, b = body()) =>
    rawRequest(proxy, { method: 'POST', target, headers: [['content-type', 'application/json'], ...headers], body: b });
  const statuses: Record<string, number> = {};
  const note = async (what: string, p: ReturnType<typeof send>) => {
    statuses[what] = (await p).status;
  };

  await note(
    'json',
    send(open.url, '/v1/messages', [
      ['x-api-key', KEYS.good],
      ['x-meter-tag', 'team-a'],
    ]),
  );
  await note('stream', send(open.url, '/v1/messages', [['authorization', `Bearer ${KEYS.bearer}`]], body({ stream: true })));
  await note('upstream 401', send(open.url, '/v1/messages', [['x-api-key', KEYS.rejected]]));
  await note('upstream 500', send(open.url, '/v1/messages', [['x-api-key', KEYS.failing]], body({ stream: true })));
  await note('budget refusal', send(open.url, '/v1/messages', [['x-api-key', KEYS.capped]]));
  await note('key in the query', send(open.url, `/v1/messages?beta=true&api_key=${KEYS.query}`, []));
  await note('refused target with a key in the query', send(open.url, `/v1%2Fmessages?api_key=${KEYS.query}`, []));
  await note(
    'Connection trick',
    send(open.url, '/v1/messages', [
      ['authorization', `Bearer ${KEYS.good}`],
      ['x-api-key', KEYS.throwaway],
      ['connection', 'x-api-key'],
    ]),
  );
  await note(
    'two credentials',
    send(open.url, '/v1/messages', [
      ['x-api-key', KEYS.good],
      ['x-api-key', KEYS.second],
    ]),
  );
  await note('count_tokens', send(open.url, '/v1/messages/count_tokens', [['x-api-key', KEYS.good]]));
  await note('listed key', send(checking.url, '/v1/messages', [['x-api-key', KEYS.listed]]));
  await note('unlisted key', send(checking.url, '/v1/messages', [['authorization', `Bearer ${KEYS.unlisted}`]]));
  assert.deepEqual(statuses, {
    json: 200,
    stream: 200,
    'upstream 401': 401,
    'upstream 500': 500,
    'budget refusal': 429,
    'key in the query': 200,
    'refused target with a key in the query': 400,
    'Connection trick': 200,
    'two credentials': 400,
    count_tokens: 200,
    'listed key': 200,
    'unlisted key': 401,
  });
  assert.ok(
    up.received.every((r) => r.url.startsWith(`/relay/${URL_TOKEN}/`)),
    'the relay token was used upstream',
  );
  await open.app.flush();
  await checking.app.flush();
  for (const p of [open, checking]) assert.ok((await p.app.store.recent(50)).length > 0, 'records were written to Redis');

  // Redis: every key name, its DUMP (uncompressed), and its value read by type.
  const client = await connectRedis(redis.url);
  t.after(() => client.disconnect());
  const keys = await allKeys(client);
  assert.ok(keys.some((k) => k.startsWith('{cm}:')) && keys.some((k) => k.startsWith('{cm2}:')), `both proxies wrote: ${keys.join(' ')}`);
  // The key hints: exactly Anthropic's own hint of each key a client sent through the forwarding
  // proxy (a refused or Connection-named credential, and the checking proxy's own key, are not).
  const hinted = [KEYS.good, KEYS.bearer, KEYS.rejected, KEYS.failing, KEYS.capped];
  assert.deepEqual(await client.hgetall('{cm}:keyhints'), Object.fromEntries(hinted.map((k) => [hashKey(k), partialKeyHint(k)])));
  assert.ok(!keys.includes('{cm2}:keyhints'), 'no hint of the proxy-owned or a refused key');
  for (const hint of Object.values(await client.hgetall('{cm}:keyhints'))) assert.equal(hint.length, 23, hint);
  const dump: string[] = [];
  for (const k of keys.filter((name) => name !== '{cm}:keyhints')) {
    dump.push(k);
    const d = await client.dumpBuffer(k);
    dump.push(d === null ? '' : d.toString('latin1'));
    dump.push(await readValue(client, k));
  }
  assertClean('Redis', dump.join('\n'));

  // Every log line, fields and message, errors with their causes.
  const lines = [...logger.lines, ...checkingLogger.lines];
  assert.ok(lines.some((l) => l.msg === 'request'));
  assertClean(
    'the logs',
    lines.map((l) => `${l.level} ${l.msg ?? ''} ${inspect(l.obj, { depth: null })} ${JSON.stringify(l.obj)}`).join('\n'),
  );

  // /metrics and every /_meter JSON route, with the admin token.
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const health: string[] = [];
  for (const p of [open, checking]) {
    health.push(await (await fetch(`${p.url}/_meter/health`, { headers: auth })).text());
    const metrics = await (await fetch(`${p.url}/metrics`, { headers: auth })).text();
    assert.match(metrics, /key_id="[0-9a-f]{16}"/, 'key ids are labels');
    assertClean(`${p.url}/metrics`, metrics);
    for (const route of meterRoutes(p.config.budgets.map((b) => b.name))) {
      const res = await fetch(`${p.url}${route}`, { headers: auth });
      const text = await res.text();
      assert.equal(res.status, 200, `${route}: ${text}`);
      assertClean(`${p.url}${route}`, text);
    }
  }
  // /_meter/health names the upstream by its origin only: the relay's path token stays out.
  for (const text of health) assertClean('/_meter/health', text);
});

function meterRoutes(budgets: readonly string[]): string[] {
  const routes = ['/_meter/forecast', '/_meter/budgets', '/_meter/top', '/_meter/top?limit=100'];
  for (const by of ['model', 'key_id', 'tag', 'all'])
    for (const window of ['minute', 'hour', 'day']) routes.push(`/_meter/usage?by=${by}&window=${window}`);
  for (const status of [200, 400, 401, 429, 500]) routes.push(`/_meter/recent?status=${status}`);
  for (const name of budgets) routes.push(`/_meter/chart?budget=${name}`);
  return routes;
}

async function allKeys(client: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

async function readValue(client: Redis, key: string): Promise<string> {
  const type = await client.type(key);
  switch (type) {
    case 'string':
      return (await client.getBuffer(key))?.toString('latin1') ?? '';
    case 'hash':
      return JSON.stringify(await client.hgetall(key));
    case 'list':
      return JSON.stringify(await client.lrange(key, 0, -1));
    case 'set':
      return JSON.stringify(await client.smembers(key));
    case 'zset':
      return JSON.stringify(await client.zrange(key, 0, -1, 'WITHSCORES'));
    case 'stream':
      return JSON.stringify(await client.xrange(key, '-', '+'));
    default:
      return type;
  }
}
