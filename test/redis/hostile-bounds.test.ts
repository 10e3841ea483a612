/**
 * No client grows the proxy's footprint without bound. A proxy on a real Redis, with per_key,
 * per_tag and per_model budgets and every optional label on, takes 10,000 requests: half with
 * random keys the upstream answers 401, random tags and 1 KB made-up model names; half from
 * a fixed set of real callers, whose made-up models the upstream answers 404. Afterwards the
 * /metrics label values and series, the Redis keys, the budget instances and the longest log
 * line are each within their cap plus a constant, and 1 MB model names add nothing to /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { recordingLogger, startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { prng } from '../contract/fixtures.ts';
import { hashKey } from '../../src/http/identify.ts';
import { MAX_NAME_CHARS } from '../../src/core/bound.ts';

/** About 27 s of CPU on one core (proxy, mock upstream and clients share this process), 50 s on a busy 2-core box. */
const REQUESTS = 10_000;
const CONCURRENCY = 32;
/** metrics.max_label_values: below the real callers' keys and tags, so the cap is what bounds them. */
const CAP = 8;
const GOOD_KEYS = Array.from({ length: 12 }, (_, i) => `sk-ant-good-${i}`);
const TEAMS = Array.from({ length: 10 }, (_, i) => `team-${i}`);
/** Their canonical ids name the per_model instances. */
const MODELS = { 'claude-haiku-4-5': 'claude-haiku-4-5-20251001', 'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929' } as const;
const BUDGETS = [
  budget({ name: 'all', limit_usd: 1_000 }),
  budget({ name: 'keys', scope: 'per_key', limit_usd: 100 }),
  budget({ name: 'tags', scope: 'per_tag', limit_usd: 100 }),
  budget({ name: 'models', scope: 'per_model', limit_usd: 100 }),
];

interface Planned {
  key: string;
  tag: string;
  model: string;
  served: boolean;
}

/** The traffic, decided up front from a seed: who was served is known before anything is sent. */
function plan(n: number): Planned[] {
  const rand = prng(17);
  const hex = (chars: number) => Array.from({ length: chars }, () => Math.floor(rand() * 16).toString(16)).join('');
  const madeUp = () => `claude-${hex(1017)}`; // 1 KB
  return Array.from({ length: n }, (_, i) => {
    if (i % 2 === 0) return { key: `sk-ant-${hex(40)}`, tag: `t-${hex(12)}`, model: madeUp(), served: false };
    const real = i % 4 === 1;
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T;
    return { key: pick(GOOD_KEYS), tag: pick(TEAMS), model: real ? pick(Object.keys(MODELS)) : madeUp(), served: real };
  });
}

/** Series (sample lines) of a scrape, and the values each capped label takes in it. */
function parseScrape(text: string): { series: number; values: Map<string, Set<string>> } {
  const values = new Map<string, Set<string>>();
  let series = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    series++;
    for (const [, name, value] of line.matchAll(/(model|key_id|tag|budget_instance)="([^"]*)"/g)) {
      let set = values.get(name as string);
      if (set === undefined) values.set(name as string, (set = new Set()));
      set.add(value as string);
    }
  }
  return { series, values };
}

// 10,000 requests through a real proxy and Redis: about 50 s idle, more than 2 minutes on a busy machine.
test('10,000 hostile and real requests: series, Redis keys, budget instances and log lines stay within their caps', {
  timeout: 300_000,
}, async (t) => {
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  const good = new Set(GOOD_KEYS);
  up.setScenario((r) => {
    if (!good.has(String(r.headers['x-api-key']))) return { kind: 'error', status: 401, type: 'authentication_error' };
    const model = (JSON.parse(r.body.toString()) as { model: string }).model;
    // A relay that answers any model (as the 1 MB case below asks) or the API's 404 for an unknown one.
    if (!(model in MODELS) && r.headers['x-relay'] !== 'echo') return { kind: 'error', status: 404, type: 'not_found_error' };
    return { kind: 'message', usage: { input_tokens: 20, output_tokens: 5 } };
  });
  const logger = recordingLogger();
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    logger,
    forecasting: false,
    config: {
      store: { redis: { url: redis.url, key_prefix: 'hb' } },
      budgets: BUDGETS,
      metrics: { key_label: true, tag_label: true, max_label_values: CAP },
    },
  });
  const client = new Redis(redis.url);
  t.after(() => client.quit());

  const send = (p: Planned, headers: Record<string, string> = {}) =>
    fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': p.key, 'x-meter-tag': p.tag, ...headers },
      body: JSON.stringify({ model: p.model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    }).then(async (res) => (await res.arrayBuffer(), res.status));

  const traffic = plan(REQUESTS);
  const statuses = new Map<number, number>();
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < traffic.length) {
        const p = traffic[next++] as Planned;
        const status = await send(p);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  await app.flush();
  const seconds = (Date.now() - t0) / 1000;
  assert.deepEqual(Object.fromEntries(statuses), { 200: REQUESTS / 4, 401: REQUESTS / 2, 404: REQUESTS / 4 }, `in ${seconds} s`);

  // Budget instances: those of the callers the upstream served, and nothing else.
  const served = traffic.filter((p) => p.served);
  const now = Date.now();
  const listed = (i: number) => {
    const b = BUDGETS[i]!;
    return app.gate.ledger.instances(b.name, app.gate.catalog.instanceRef(b, '*', now).window.id);
  };
  const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
  assert.deepEqual(await listed(0), ['*']);
  assert.deepEqual(await listed(1), sorted(served.map((p) => hashKey(p.key))));
  assert.deepEqual(await listed(2), sorted(served.map((p) => p.tag)));
  assert.deepEqual(await listed(3), sorted(served.map((p) => MODELS[p.model as keyof typeof MODELS])));
  const instances = 1 + GOOD_KEYS.length + TEAMS.length + Object.keys(MODELS).length;

  // Redis keys: per served instance its hash, hourly and per-minute history (one more at an hour
  // boundary); per budget a listing; at most 64 sets of settled ids; the meter's hour aggregates,
  // record stream and dedupe sets (a few minutes' worth): a constant, whatever the traffic.
  const keys = await client.dbsize();
  const bound = instances * 4 + BUDGETS.length + 64 + 40;
  assert.ok(keys <= bound, `${keys} Redis keys > ${bound}`);
  assert.equal((await client.keys('{hb:budget}:i:*')).length, instances, 'one hash per served instance, no reservation left');

  // /metrics: each capped label has at most CAP values and `other`; the series are bounded by them.
  const before = await (await fetch(`${url}/metrics`)).text();
  const { series, values } = parseScrape(before);
  for (const label of ['model', 'key_id', 'tag', 'budget_instance']) {
    const v = values.get(label) ?? new Set();
    assert.ok(v.size <= CAP + 1, `${label}: ${v.size} values`);
  }
  assert.ok(values.get('key_id')?.has('other') && values.get('tag')?.has('other'), 'real callers past the cap fold too');
  // requests_total by model, status (200, 401, 404), key and tag; per model the tokens and two
  // histograms; per instance five gauges and a settled counter; and fixed families.
  const perLabel = CAP + 1;
  const seriesBound = perLabel * 3 * perLabel * perLabel + perLabel * (5 + 2 * 19 + 4) + perLabel * 6 * BUDGETS.length + 200;
  assert.ok(series <= seriesBound, `${series} series > ${seriesBound}`);
  assert.match(before, /^claude_meter_label_overflow_total\{label="key_id"\} \d+$/m);

  // 1 MB model names, refused and (through a relay that answers anything) served: /metrics gains at most a few series.
  const huge = (c: string) => `claude-${c.repeat(1024 * 1024)}`;
  const big = await Promise.all([
    send({ key: 'sk-ant-stranger', tag: 'x', model: huge('a'), served: false }),
    send({ key: GOOD_KEYS[0]!, tag: TEAMS[0]!, model: huge('b'), served: false }),
    send({ key: GOOD_KEYS[0]!, tag: TEAMS[0]!, model: huge('c'), served: true }, { 'x-relay': 'echo' }),
    send({ key: GOOD_KEYS[1]!, tag: TEAMS[1]!, model: huge('d'), served: true }, { 'x-relay': 'echo' }),
  ]);
  assert.deepEqual(big, [401, 404, 200, 200]);
  await app.flush();
  const afterHuge = await (await fetch(`${url}/metrics`)).text();
  assert.ok(afterHuge.length - before.length <= 64 * 1024, `/metrics grew by ${afterHuge.length - before.length} bytes`);
  assert.ok(afterHuge.length <= 2 * 1024 * 1024, `/metrics is ${afterHuge.length} bytes`);
  assert.ok(![...afterHuge.matchAll(/model="([^"]*)"/g)].some((m) => (m[1] as string).length > MAX_NAME_CHARS));

  // The longest log line, as the process logger writes it: every field bounded (path, model, tag,
  // error type at MAX_NAME_CHARS; key id 16; the rest numbers).
  let longest = 0;
  for (const l of logger.lines) {
    const line = JSON.stringify({ level: 30, time: Date.now(), service: 'claude-meter', ...l.obj, msg: l.msg });
    longest = Math.max(longest, line.length);
  }
  assert.ok(longest <= 4 * MAX_NAME_CHARS + 1024, `longest log line ${longest} chars`);
  assert.ok(logger.lines.length >= REQUESTS, 'one line per request');
  assert.ok((await client.dbsize()) <= bound, 'and still within the Redis bound');
});

test('requests a budget refuses leave no key behind for the names they make up (refused demand is kept only for known scopes)', async (t) => {
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 20_000, output_tokens: 5 } })); // $0.02 on Haiku
  const budgets = [
    budget({ name: 'all', limit_usd: 0.01 }),
    budget({ name: 'keys', scope: 'per_key', limit_usd: 100 }),
    budget({ name: 'tags', scope: 'per_tag', limit_usd: 100 }),
    budget({ name: 'models', scope: 'per_model', limit_usd: 100 }),
  ];
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: {
      store: { redis: { url: redis.url, key_prefix: 'hb' } },
      budgets,
      metrics: { key_label: true, tag_label: true, max_label_values: CAP },
    },
  });
  const client = new Redis(redis.url);
  t.after(() => client.quit());
  const send = (key: string, tag: string, model: string) =>
    fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, 'x-meter-tag': tag },
      body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    }).then(async (res) => (await res.arrayBuffer(), res.status));
  assert.equal(await send(GOOD_KEYS[0]!, TEAMS[0]!, 'claude-haiku-4-5'), 200, 'spends past the global limit');
  await app.flush();
  const keys = await client.dbsize();
  const rand = prng(5);
  const word = () => Math.floor(rand() * 2 ** 48).toString(16);
  let next = 0;
  const statuses = new Set<number>();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < 1_000) statuses.add(await send(`sk-ant-${word()}`, `t-${word()}`, 'claude-haiku-4-5'));
    }),
  );
  await app.flush();
  // A priced model: each refusal has demand to record (an unpriced one reserves nothing).
  assert.deepEqual([...statuses], [429]);
  // The meter's records land in fixed keys; at most a new minute's dedupe set or hour's aggregates.
  const grown = (await client.dbsize()) - keys;
  assert.ok(grown <= 6, `${grown} new Redis keys after 1,000 refused requests`);
  assert.deepEqual(await client.keys('{hb:budget}:hh:keys:*'), [`{hb:budget}:hh:keys:${hashKey(GOOD_KEYS[0]!)}`]);
});
