/**
 * `claude-meter reconcile` end to end: the real command, a real Redis holding the proxy's records
 * (written by the store, or by real traffic through the proxy), and a mock of Anthropic's Admin API
 * on a real socket serving the documented shapes. Exit code and output are asserted in every case;
 * a failure prints one line on stderr and nothing on stdout. The command's clock is injected, and
 * so is its wait for a 429's retry-after (recorded, never slept).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createServer, type AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { runReconcileCommand } from '../../src/commands/reconcile.ts';
import { partialKeyHint } from '../../src/api/anthropic/key-hint.ts';
import { hashKey } from '../../src/http/identify.ts';
import { bundledPriceTable, TablePricer } from '../../src/pricing/index.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import type { Usage } from '../../src/core/usage.ts';
import { rec, usage } from '../contract/fixtures.ts';
import { startMockAdminApi, type MockAdminApi } from '../helpers/mock-admin-api.ts';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { connectRedis } from './connect.ts';

const H = 3_600_000;
const DAY = 24 * H;
const D5 = Date.UTC(2026, 11, 5);
const D6 = D5 + DAY;
const D7 = D6 + DAY;
/** The command's present: Dec 7 14:20 UTC, so Dec 7 is compared through 14:00. */
const NOW = D7 + 14 * H + 20 * 60_000;
const SONNET = 'claude-sonnet-4-5-20250929';
const HAIKU = 'claude-haiku-4-5-20251001';
const pricer = new TablePricer(bundledPriceTable());

function capture() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  return { stream: s, text: () => text };
}

function configFile(t: TestContext, redisUrl: string, prefix: string, upstreamUrl = 'https://api.anthropic.com'): string {
  const dir = mkdtempSync(join(tmpdir(), 'cm-reconcile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    `store:\n  redis:\n    url: ${redisUrl}\n    key_prefix: ${prefix}\nupstream:\n  url: ${upstreamUrl}\n` +
      'upstreams:\n  - name: relay\n    url: https://relay.example.com/secret-token/v1\n    api: anthropic\n    route: /relay\n',
  );
  return file;
}

/** A record of the proxy, priced as the proxy prices it. */
function metered(ts: number, model: string, keyId: string, u: Partial<Usage>, upstream = 'default') {
  const full = usage({ input: 0, output: 0, ...u });
  const cost = pricer.price(model, full, { at: ts, betas: [] }).costPicoUsd;
  return rec({ ts, model, keyId, upstream, usage: full, costPicoUsd: cost });
}

interface World {
  admin: MockAdminApi;
  file: string;
  store: RedisStore;
  sleeps: number[];
  run(flags: string[], env?: Record<string, string | undefined>): Promise<{ code: number; out: string; err: string }>;
}

async function world(t: TestContext): Promise<World> {
  const redis = await startRedis({ t });
  const store = new RedisStore(await connectRedis(redis.url), { prefix: 'rc', bucketTtlSeconds: 40 * 86_400, recordsMaxLen: 1000 });
  t.after(() => store.close());
  await store.writeBatch([
    metered(D5 + 10 * H, SONNET, 'kA', { input: 1000, output: 100 }),
    metered(D6 + 9 * H, SONNET, 'kA', { input: 2000, output: 200, cacheRead: 5000 }),
    metered(D6 + 9 * H + 30 * 60_000, HAIKU, 'kB', { input: 500, output: 50 }),
    // Through a relay: not Anthropic's, left out.
    metered(D6 + 10 * H, SONNET, 'kA', { input: 50_000, output: 10 }, 'relay'),
    metered(D7 + 13 * H + 10 * 60_000, SONNET, 'kA', { input: 100, output: 10 }),
    // The current hour (after the cutoff): left out on both sides.
    metered(D7 + 14 * H + 5 * 60_000, SONNET, 'kA', { input: 999, output: 99 }),
  ]);
  const admin = await startMockAdminApi(t);
  admin.now = NOW;
  admin.perPage = 1;
  admin.usage.push(
    { at: D5 + 10 * H, model: SONNET, api_key_id: 'apikey_A', uncached_input_tokens: 1000, output_tokens: 100 },
    {
      at: D6 + 9 * H,
      model: SONNET,
      api_key_id: 'apikey_A',
      uncached_input_tokens: 2000,
      output_tokens: 200,
      cache_read_input_tokens: 5000,
    },
    { at: D6 + 9 * H + 30 * 60_000, model: HAIKU, api_key_id: 'apikey_B', uncached_input_tokens: 500, output_tokens: 50 },
    // Workbench: no key, never through the proxy.
    { at: D6 + 11 * H, model: SONNET, api_key_id: null, uncached_input_tokens: 3000, output_tokens: 300 },
    // A batch on the 1M context window, not through the proxy: long-context rates, halved.
    {
      at: D6 + 12 * H,
      model: SONNET,
      api_key_id: 'apikey_A',
      service_tier: 'batch',
      context_window: '200k-1M',
      uncached_input_tokens: 1_000_000,
      output_tokens: 10_000,
    },
    { at: D7 + 13 * H + 10 * 60_000, model: SONNET, api_key_id: 'apikey_A', uncached_input_tokens: 100, output_tokens: 10 },
    // The partial current bucket: in the current hour, and (the second) not landed yet.
    { at: D7 + 14 * H + 5 * 60_000, model: SONNET, api_key_id: 'apikey_A', uncached_input_tokens: 999, output_tokens: 99 },
    { at: D7 + 14 * H + 18 * 60_000, model: SONNET, api_key_id: 'apikey_A', uncached_input_tokens: 7, output_tokens: 7 },
  );
  admin.cost.push({ at: D5, amount: '0.45', model: SONNET }, { at: D6, amount: '350.1234', model: SONNET }, { at: D7, amount: '0.04' });
  admin.apiKeys.push(
    { id: 'apikey_A', name: 'backend', partial_key_hint: 'sk-ant-api03-AAA...aaaa' },
    { id: 'apikey_B', name: 'notebooks', partial_key_hint: 'sk-ant-api03-BBB...bbbb' },
    { id: 'apikey_C', name: 'unused', partial_key_hint: 'sk-ant-api03-CCC...cccc' },
  );
  const file = configFile(t, redis.url, 'rc');
  const sleeps: number[] = [];
  return {
    admin,
    file,
    store,
    sleeps,
    async run(flags, env = {}) {
      const out = capture();
      const err = capture();
      const code = await runReconcileCommand(
        ['--config', file, '--api-url', admin.url, ...flags],
        { stdout: out.stream, stderr: err.stream },
        { ANTHROPIC_ADMIN_KEY: admin.key, ...env },
        {
          now: () => NOW,
          sleep: async (ms) => void sleeps.push(ms),
        },
      );
      return { code, out: out.text(), err: err.text() };
    },
  };
}

const RANGE = ['--from', '2026-12-05', '--to', '2026-12-07'];

interface SideJson {
  tokens: Record<string, number>;
  cost_pico_usd: string;
  unpriced: number;
}
interface RowJson {
  day?: string;
  model?: string;
  api_key_id?: string | null;
  key_ids?: string[];
  incomplete?: boolean;
  ours: SideJson;
  theirs: SideJson;
  difference: { tokens: number; cost_pico_usd: string; percent: number | null; capture: number | null };
}

test('by model: per day and model, theirs priced at batch and long-context rates, an incomplete day, relays and the current hour left out', async (t) => {
  const w = await world(t);
  const { code, out, err } = await w.run([...RANGE, '--json']);
  assert.equal(err, '');
  assert.equal(code, 0);
  const r = JSON.parse(out) as {
    rows: RowJson[];
    total: { difference: RowJson['difference'] };
    incomplete_day: string;
    through: string;
    left_out: unknown;
    organization: Record<string, number>;
    gaps: string[];
  };
  assert.equal(r.incomplete_day, '2026-12-07');
  assert.equal(r.through, '2026-12-07T14:00:00Z');
  assert.deepEqual(r.left_out, [{ name: 'relay', url: 'https://relay.example.com' }]);
  assert.deepEqual(
    r.rows.map((x) => [x.day, x.model, x.incomplete, x.ours.tokens['input'], x.theirs.tokens['input'], x.difference.capture]),
    [
      ['2026-12-05', SONNET, false, 1000, 1000, 1],
      ['2026-12-06', HAIKU, false, 500, 500, 1],
      // Ours: $0.009 + 5000 reads; theirs adds Workbench ($0.0135) and the batch (1M × $6 + 10k × $22.50, halved: $3.1125).
      ['2026-12-06', SONNET, false, 2000, 1_003_000 + 2000, 0.0033],
      ['2026-12-07', SONNET, true, 100, 100, 1],
    ],
  );
  const sonnet6 = r.rows[2]!;
  assert.equal(sonnet6.ours.cost_pico_usd, '10500000000'); // 2000 × $3 + 200 × $15 + 5000 × $0.30 per MTok
  assert.equal(sonnet6.theirs.cost_pico_usd, String(10_500_000_000 + 13_500_000_000 + 3_112_500_000_000));
  assert.equal(sonnet6.difference.cost_pico_usd, String(-(13_500_000_000 + 3_112_500_000_000)));
  // The organization: the complete days (5th and 6th) of the usage report against the cost report.
  assert.equal(r.organization['days'], 2);
  assert.equal(r.organization['cost_report_usd'], 3.505734);
  assert.equal(r.organization['usage_report_usd'], 0.0045 + 0.00075 + 3.1365);
  assert.ok(r.gaps.some((g) => g.startsWith('incomplete: 2026-12-07 is compared through 2026-12-07T14:00:00Z')));
  assert.ok(r.gaps.some((g) => g.includes('relay (https://relay.example.com)')));
  assert.ok(r.gaps.some((g) => g.startsWith('priority tier: not in the cost report')));
  assert.ok(!r.gaps.some((g) => g.startsWith('retention')));

  // What was asked: daily buckets for the complete days, hourly for the incomplete one, every page.
  const usageAsked = w.admin.requests.filter((q) => q.listing === 'usage');
  assert.deepEqual(usageAsked[0]?.query.getAll('group_by[]'), ['model', 'api_key_id', 'service_tier', 'context_window', 'inference_geo']);
  assert.deepEqual(
    usageAsked.map((q) => [q.query.get('bucket_width'), q.query.get('starting_at'), q.query.get('ending_at'), q.page]).slice(0, 3),
    [
      ['1d', '2026-12-05T00:00:00Z', '2026-12-07T00:00:00Z', 1],
      ['1d', '2026-12-05T00:00:00Z', '2026-12-07T00:00:00Z', 2],
      ['1h', '2026-12-07T00:00:00Z', '2026-12-07T14:00:00Z', 1],
    ],
  );
  assert.equal(usageAsked.length, 2 + 14, 'two daily pages, fourteen hourly');
  assert.ok(w.admin.requests.every((q) => String(q.headers['user-agent']).startsWith('claude-meter/')));
  assert.deepEqual(w.sleeps, []);

  // The table: three lines per row, the incomplete day starred, the gaps under it; nothing on stderr.
  const table = await w.run(RANGE);
  assert.equal(table.code, 0);
  assert.equal(table.err, '');
  assert.match(table.out, /^reconcile 2026-12-05 to 2026-12-07 \(UTC\), through 2026-12-07T14:00:00Z, by model; upstreams: default\n/);
  const cells = (...c: string[]) => new RegExp(c.join('[\\s│]+'));
  assert.match(table.out, cells('2026-12-07 \\*', 'claude-sonnet-4-5-20250929', 'ours', '100', '10', '0'));
  assert.match(table.out, cells('Δ', '-1,003,000', '-10,300', '0', '0', '0', '0', '-\\$3\\.13', '-99\\.7%', '0\\.3%'));
  assert.match(table.out, /organization, 2 complete days: cost report \$3\.51; usage report priced by our table \$3\.14/);
  assert.match(table.out, /\nknown gaps\n- incomplete: 2026-12-07/);

  // Past the store's retention, the output says so.
  const old = JSON.parse((await w.run(['--from', '2026-10-20', '--to', '2026-10-21', '--json'])).out) as {
    gaps: string[];
    rows: unknown[];
  };
  assert.ok(old.gaps.includes('retention: the store keeps 35 days (store.bucket_ttl_days), so ours may be missing before 2026-11-03'));
  assert.deepEqual(old.rows, []);
});

test('by day and by key: theirs per api_key_id, ours mapped by the kept hint; unknown hints stay unmapped and say so', async (t) => {
  const w = await world(t);
  await w.store.saveKeyHint('kA', 'sk-ant-api03-AAA...aaaa');
  await w.store.saveKeyHint('kB', 'sk-ant-api03-ZZZ...zzzz');
  const byDay = await w.run([...RANGE, '--by', 'day', '--json']);
  assert.equal(byDay.code, 0, byDay.err);
  assert.deepEqual(
    (JSON.parse(byDay.out) as { rows: RowJson[] }).rows.map((x) => [x.day, x.ours.tokens['input'], x.theirs.tokens['input']]),
    [
      ['2026-12-05', 1000, 1000],
      ['2026-12-06', 2500, 1_005_500],
      ['2026-12-07', 100, 100],
    ],
  );

  const { code, out, err } = await w.run([...RANGE, '--by', 'key', '--json']);
  assert.equal(err, '');
  assert.equal(code, 0);
  const r = JSON.parse(out) as { rows: RowJson[]; unmapped: Array<{ key_id: string; hint: string; reason: string; ours: SideJson }> };
  assert.deepEqual(
    r.rows.map((x) => [x.api_key_id, x.key_ids, x.ours.tokens['input'], x.theirs.tokens['input']]),
    [
      ['apikey_A', ['kA'], 3100, 1_003_100],
      [null, [], 0, 3000],
      ['apikey_B', [], 0, 500],
    ],
  );
  assert.deepEqual(
    r.unmapped.map((u) => [u.key_id, u.hint, u.ours.tokens['input']]),
    [['kB', 'sk-ant-api03-ZZZ...zzzz', 500]],
  );
  assert.match(r.unmapped[0]?.reason ?? '', /no key of the organization shows this hint/);
  // The key list is paginated by after_id (one key a page here).
  assert.deepEqual(
    w.admin.requests.filter((q) => q.listing === 'keys').map((q) => q.query.get('after_id')),
    [null, 'apikey_A', 'apikey_B'],
  );
  const table = await w.run([...RANGE, '--by', 'key']);
  assert.match(table.out, /\(no key: Workbench\)[\s│]+ours[\s│]+0[\s│]/);
  assert.match(table.out, /unmapped key ids \(in the total, in no row\)\n[\s\S]*kB[\s│]+sk-ant-api03-ZZZ\.\.\.zzzz/);
});

test('a 429 with retry-after in the middle of pagination is waited out; the answer is the same', async (t) => {
  const w = await world(t);
  const plain = await w.run([...RANGE, '--json']);
  w.admin.inject('usage', 2, {
    status: 429,
    headers: { 'retry-after': '1' },
    body: JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }),
  });
  const retried = await w.run([...RANGE, '--json']);
  assert.equal(retried.err, '');
  assert.equal(retried.code, 0);
  assert.deepEqual(w.sleeps, [1000]);
  assert.equal(retried.out, plain.out);
});

test('failures are one line on stderr, nothing on stdout, and a non-zero exit', async (t) => {
  const w = await world(t);
  const limited = {
    status: 429,
    headers: { 'retry-after': '2' },
    body: '{"type":"error","error":{"type":"rate_limit_error","message":"x"}}',
  };
  const cases: Array<{
    name: string;
    prepare?: () => void | Promise<void>;
    env?: Record<string, string | undefined>;
    flags?: string[];
    code: number;
    err: RegExp;
  }> = [
    { name: 'no admin key', env: { ANTHROPIC_ADMIN_KEY: undefined }, code: 2, err: /ANTHROPIC_ADMIN_KEY is not set/ },
    {
      name: 'a wrong admin key',
      env: { ANTHROPIC_ADMIN_KEY: 'sk-ant-admin01-wrong' },
      code: 1,
      err: /the Admin API refused the admin key \(HTTP 401: authentication_error: invalid x-api-key\)/,
    },
    {
      name: '429 past the bound, mid-pagination',
      prepare: () => w.admin.inject('usage', 2, limited, 4),
      code: 1,
      err: /rate limiting \(429, 4 times in a row on the usage report, page 2\)/,
    },
    {
      name: 'a retry-after longer than we wait',
      prepare: () => w.admin.inject('usage', 1, { ...limited, headers: { 'retry-after': '3600' } }),
      code: 1,
      err: /asks to wait 3600 s/,
    },
    {
      name: 'a malformed page',
      prepare: () =>
        w.admin.inject('usage', 2, {
          status: 200,
          body: JSON.stringify({
            data: [
              { starting_at: '2026-12-06T00:00:00Z', ending_at: '2026-12-07T00:00:00Z', results: [{ model: SONNET, output_tokens: '12' }] },
            ],
            has_more: false,
            next_page: null,
          }),
        }),
      code: 1,
      err: /the usage report, page 2, is not the documented shape: data\[0\]\.results\[0\]\.output_tokens is not a count/,
    },
    {
      name: 'has_more without next_page',
      prepare: () => w.admin.inject('cost', 1, { status: 200, body: JSON.stringify({ data: [], has_more: true, next_page: null }) }),
      code: 1,
      err: /the cost report, page 1, is not the documented shape: has_more is true but next_page is missing/,
    },
    {
      name: 'a server error',
      prepare: () => w.admin.inject('cost', 2, { status: 500, body: 'oops' }),
      code: 1,
      err: /HTTP 500 for the cost report, page 2/,
    },
    { name: 'a bad date', flags: ['--from', '2026-02-30'], code: 2, err: /--from must be a day/ },
    { name: 'an unknown upstream', flags: [...RANGE, '--upstreams', 'nope'], code: 2, err: /--upstreams: no upstream named 'nope'/ },
  ];
  for (const c of cases) {
    w.sleeps.length = 0;
    await c.prepare?.();
    const { code, out, err } = await w.run(c.flags ?? RANGE, c.env);
    assert.equal(code, c.code, `${c.name}: ${err}`);
    assert.equal(out, '', `${c.name}: nothing on stdout`);
    assert.match(err, c.err, c.name);
    if (c.code === 1) assert.equal(err.trimEnd().split('\n').length, 1, `${c.name}: one line`);
  }

  // No connection at all.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const out = capture();
  const err = capture();
  const code = await runReconcileCommand(
    ['--config', w.file, '--api-url', `http://127.0.0.1:${port}`, ...RANGE],
    { stdout: out.stream, stderr: err.stream },
    { ANTHROPIC_ADMIN_KEY: w.admin.key },
    { now: () => NOW, sleep: async () => {} },
  );
  assert.equal(code, 1);
  assert.equal(out.text(), '');
  assert.match(err.text(), /^claude-meter reconcile: cannot reach the Admin API at http:\/\/127\.0\.0\.1:\d+: fetch failed/);
});

test('through the proxy: real traffic keeps its key hint once, and reconcile maps it to the Anthropic key that shows it', async (t) => {
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 40 } }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: { store: { redis: { url: redis.url, cluster_nodes: [], key_prefix: 'rp' } } },
  });
  const key = `sk-ant-api03-Q7x${'k'.repeat(80)}Zz9A`;
  const client = new Anthropic({ apiKey: key, baseURL: url, maxRetries: 0 });
  for (let i = 0; i < 3; i++) await client.messages.create({ model: SONNET, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  await app.flush();
  assert.deepEqual(await app.store.keyHints(), new Map([[hashKey(key), 'sk-ant-api03-Q7x...Zz9A']]));

  const sent = Date.now();
  const now = sent + DAY; // the day of the traffic is complete by then
  const today = new Date(sent).toISOString().slice(0, 10);
  const admin = await startMockAdminApi(t);
  admin.now = now;
  admin.usage.push(
    { at: sent, model: SONNET, api_key_id: 'apikey_live', uncached_input_tokens: 300, output_tokens: 30, cache_read_input_tokens: 120 },
    { at: sent, model: SONNET, api_key_id: 'apikey_other', uncached_input_tokens: 300, output_tokens: 30, cache_read_input_tokens: 120 },
  );
  admin.apiKeys.push(
    { id: 'apikey_live', name: 'live', partial_key_hint: partialKeyHint(key) ?? '' },
    { id: 'apikey_other', name: 'other', partial_key_hint: 'sk-ant-api03-Oth...er00' },
  );
  const file = configFile(t, redis.url, 'rp', up.url);
  const out = capture();
  const err = capture();
  const code = await runReconcileCommand(
    ['--config', file, '--api-url', admin.url, '--upstreams', 'default', '--from', today, '--to', today, '--by', 'key', '--json'],
    { stdout: out.stream, stderr: err.stream },
    { ANTHROPIC_ADMIN_KEY: admin.key },
    { now: () => now, sleep: async () => {} },
  );
  assert.equal(err.text(), '');
  assert.equal(code, 0);
  const r = JSON.parse(out.text()) as { rows: RowJson[]; total: { difference: RowJson['difference'] }; left_out: unknown };
  const live = r.rows.find((x) => x.api_key_id === 'apikey_live');
  assert.deepEqual(live?.key_ids, [hashKey(key)]);
  assert.deepEqual(live?.ours.tokens, live?.theirs.tokens);
  assert.equal(live?.difference.capture, 1);
  // The other key's traffic never passed through the proxy: half of the organization's is ours.
  assert.equal(r.total.difference.capture, 0.5);
  assert.deepEqual(r.left_out, [{ name: 'relay', url: 'https://relay.example.com' }]);
});
