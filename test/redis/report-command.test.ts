/** `claude-meter report`: the store's usage, cache savings and every budget with its p50 projection, as a table and as JSON. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { hashKey } from '../../src/http/identify.ts';
import { runReportCommand } from '../../src/commands/report.ts';
import { sumByValue } from '../../src/report/usage.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { rec } from '../contract/fixtures.ts';
import { connectRedis } from './connect.ts';

function capture() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  return { stream: s, text: () => text };
}

interface Row {
  value: string;
  requests: number;
  tokens: Record<string, number>;
  cost_pico_usd: string;
  cache_savings_usd: number | null;
}

test('report reads usage, cache savings and budgets from Redis, by model, key or tag', async (t) => {
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  up.setScenario((req) =>
    req.body.toString().includes('sonnet')
      ? { kind: 'message', usage: { input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 2000 } }
      : {
          kind: 'message',
          usage: {
            input_tokens: 100,
            output_tokens: 10,
            cache_read_input_tokens: 1000,
            cache_creation_input_tokens: 200,
            cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 0 },
          },
        },
  );
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: {
      store: { redis: { url: redis.url, cluster_nodes: [], key_prefix: 'rp' } },
      budgets: [
        budget({ name: 'monthly', limit_usd: 100, window: 'month' }),
        budget({ name: 'yuan', limit: 1000, currency: 'CNY', window: 'month' }),
      ],
      exchange_rates: { USD_CNY: 7.1 },
    },
  });
  const a = new Anthropic({ apiKey: 'sk-report-a', baseURL: url, maxRetries: 0, defaultHeaders: { 'x-meter-tag': 'team-a' } });
  const b = new Anthropic({ apiKey: 'sk-report-b', baseURL: url, maxRetries: 0, defaultHeaders: { 'x-meter-tag': 'team-b' } });
  for (let i = 0; i < 3; i++)
    await a.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  for (let i = 0; i < 2; i++)
    await b.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  await app.flush();

  const dir = mkdtempSync(join(tmpdir(), 'cm-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    `store:\n  redis:\n    url: ${redis.url}\n    key_prefix: rp\nexchange_rates:\n  USD_CNY: 7.1\nbudgets:\n  - name: monthly\n    window: month\n    limit_usd: 100\n` +
      '  - name: yuan\n    window: month\n    limit: 1000\n    currency: CNY\n',
  );
  const run = async (...flags: string[]) => {
    const out = capture();
    const err = capture();
    const code = await runReportCommand(['--config', file, ...flags], { stdout: out.stream, stderr: err.stream }, {});
    assert.equal(code, 0, err.text());
    return out.text();
  };

  const json = JSON.parse(await run('--json')) as {
    window: { unit: string };
    rows: Row[];
    total: Row & { cache_savings_usd: number };
    budgets: Array<Record<string, unknown>>;
  };
  assert.equal(json.window.unit, 'day');
  const now = Date.now();
  const stored = sumByValue(
    await app.store.query({ by: 'model', granularity: 'day', from: Math.floor(now / 86_400_000) * 86_400_000, to: now + 1 }),
  );
  assert.deepEqual(
    json.rows.map((r) => [r.value, r.requests, r.cost_pico_usd]),
    [...stored]
      .map(([v, tot]) => [v, tot.requests, tot.costPicoUsd.toString()])
      .sort((x, y) => Number(BigInt(y[2] as string) - BigInt(x[2] as string))),
  );
  const haiku = json.rows.find((r) => r.value === 'claude-haiku-4-5-20251001')!;
  assert.deepEqual(haiku.tokens, { input: 300, output: 30, cache_creation_5m: 600, cache_creation_1h: 0, cache_read: 3000 });
  // Haiku: 3 × (1000 reads × $0.90/MTok saved − 200 5m writes × $0.25/MTok extra); Sonnet 4.6: 2 × 2000 × $2.70/MTok.
  assert.equal(haiku.cache_savings_usd, 0.00255);
  assert.equal(json.rows.find((r) => r.value === 'claude-sonnet-4-6')?.cache_savings_usd, 0.0108);
  assert.equal(json.total.cache_savings_usd, 0.01335);
  assert.equal(json.total.requests, 5);
  const [bud] = json.budgets;
  assert.equal(bud?.['budget'], 'monthly');
  assert.equal(bud?.['spent_usd'], Number(json.total.cost_pico_usd) / 1e12);
  assert.ok(typeof bud?.['projected_p50_usd'] === 'number' && bud['projected_p50_usd'] >= (bud['spent_usd'] as number));
  assert.equal(bud?.['projected_p50'], bud?.['projected_p50_usd'], 'a USD budget: both spellings');
  const yuan = json.budgets[1];
  assert.deepEqual(
    [yuan?.['budget'], yuan?.['currency'], yuan?.['spent_usd'], yuan?.['limit_usd'], yuan?.['projected_p50_usd']],
    ['yuan', 'CNY', null, null, null],
  );
  assert.ok(typeof yuan?.['projected_p50'] === 'number' && yuan['projected_p50'] >= (yuan['spent'] as number));

  const byKey = JSON.parse(await run('--json', '--by', 'key', '--window', 'month')) as {
    by: string;
    rows: Row[];
    total: { cache_savings_usd: number };
  };
  assert.equal(byKey.by, 'key_id', 'the rows are key ids, and the report says so');
  const byKeyId = JSON.parse(await run('--json', '--by', 'key_id', '--window', 'month')) as typeof byKey;
  assert.deepEqual([byKeyId.by, byKeyId.rows], [byKey.by, byKey.rows], '--by key_id is --by key');
  assert.deepEqual(
    byKey.rows.map((r) => [r.value, r.requests]).sort(),
    [
      [hashKey('sk-report-a'), 3],
      [hashKey('sk-report-b'), 2],
    ].sort(),
  );
  assert.ok(
    byKey.rows.every((r) => r.cache_savings_usd === null),
    'per key: no model, no savings figure',
  );
  assert.equal(byKey.total.cache_savings_usd, 0.01335, 'the total still has it');

  const table = await run('--by', 'tag');
  assert.match(table, /^day \d{4}-\d\d-\d\d \(UTC\), since .*, by tag$/m);
  assert.match(
    table,
    /│ tag\s+│ requests │ errors │ input │ output │ cache write 5m │ cache write 1h │ cache read │\s+cost │ cache savings │/,
  );
  assert.match(table, /│ team-a\s+│\s+3 │\s+0 │\s+300 │\s+30 │\s+600 │\s+0 │\s+3,000 │/);
  assert.match(table, /│ total\s+│\s+5 │.*│\s+\$0\.0134 │$/m);
  assert.match(table, /│ monthly\s+│ \*\s+│ \d{4}-\d\d\s+│ \$100\.00\s+│ \$0\.\d{4}\s+│ \$0\.00\s+│ \$\d+\.\d+\s+│ —\s+│ ok\s+│/);
  // In yuan; the limit column is the catalog's limit (a dash while the ledger counts none).
  assert.match(table, /│ yuan\s+│ \*\s+│ \d{4}-\d\d\s+│ (¥1000\.00|—)\s+│ ¥\d+\.\d{2,4}\s+│ ¥0\.00\s+│ ¥\d+\.\d+\s+│ —\s+│ ok\s+│/);
});

test('report on the embedded store says there is nothing to read here, and flags are checked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'embedded.yaml'), 'budgets: []\n');
  const err = capture();
  assert.equal(await runReportCommand(['--config', join(dir, 'embedded.yaml')], { stdout: err.stream, stderr: err.stream }, {}), 2);
  assert.match(err.text(), /embedded store lives inside the running proxy.*\/_meter\//);
  const bad = capture();
  assert.equal(await runReportCommand(['--window', 'year'], { stdout: bad.stream, stderr: bad.stream }, {}), 2);
  assert.match(bad.text(), /^claude-meter report: --window must be one of day, week, month \(got 'year'\)\nusage: claude-meter report /);
  const zone = capture();
  assert.equal(await runReportCommand(['--timezone', 'Mars/Olympus'], { stdout: zone.stream, stderr: zone.stream }, {}), 2);
  assert.match(zone.text(), /^claude-meter report: --timezone: unknown time zone 'Mars\/Olympus'\n/);
});

test('report against an unreachable Redis exits 1 with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A port nobody listens on: taken, then released.
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  const file = join(dir, 'down.yaml');
  writeFileSync(file, `store:\n  redis:\n    url: redis://127.0.0.1:${port}\n`);
  const err = capture();
  assert.equal(await runReportCommand(['--config', file], { stdout: err.stream, stderr: err.stream }, {}), 1);
  assert.match(err.text(), /^claude-meter report: cannot read the store: .*ECONNREFUSED/);
});

test('report --by upstream: list USD beside what each upstream billed in its own currency', async (t) => {
  const redis = await startRedis({ t });
  const store = new RedisStore(await connectRedis(redis.url), { prefix: 'rq', bucketTtlSeconds: 86_400, recordsMaxLen: 100 });
  t.after(() => store.close());
  const now = Date.now();
  await store.writeBatch([
    rec({ ts: now, upstream: 'default', costPicoUsd: 1_500_000_000 }),
    rec({ ts: now, upstream: 'holysheep', costPicoUsd: 12_000_000_000_000, currency: 'CNY', billedPico: 85_200_000_000_000 }),
    rec({ ts: now, upstream: 'holysheep', costPicoUsd: 1_000_000_000_000, currency: 'CNY', billedPico: 0, billedUnpriced: true }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'cm-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, `store:\n  redis:\n    url: ${redis.url}\n    key_prefix: rq\n`);
  const run = async (...flags: string[]) => {
    const out = capture();
    const err = capture();
    const code = await runReportCommand(['--config', file, ...flags], { stdout: out.stream, stderr: err.stream }, {});
    assert.equal(code, 0, err.text());
    return out.text();
  };
  const json = JSON.parse(await run('--json', '--by', 'upstream')) as {
    by: string;
    rows: Array<{ value: string; cost_pico_usd: string; billed: Record<string, { pico: string }>; billed_unpriced: number }>;
    total: { billed: Record<string, { amount: number; pico: string }> };
  };
  assert.equal(json.by, 'upstream');
  assert.deepEqual(
    json.rows.map((r) => [r.value, r.cost_pico_usd, r.billed, r.billed_unpriced]),
    [
      ['holysheep', '13000000000000', { CNY: { amount: 85.2, pico: '85200000000000' } }, 1],
      ['default', '1500000000', { USD: { amount: 0.0015, pico: '1500000000' } }, 0],
    ],
  );
  assert.deepEqual(Object.keys(json.total.billed), ['CNY', 'USD']);

  const table = await run('--by', 'upstream');
  assert.match(table, /│ upstream\s+│ requests │.*│ list cost \(USD\) │\s+billed │ cache savings │/);
  assert.match(table, /│ holysheep\s+│\s+2 │.*│\s+\$13\.00 │\s+¥85\.20 \(\+1 unpriced\) │/);
  assert.match(table, /│ default\s+│\s+1 │.*│\s+\$0\.0015 │\s+\$0\.0015 │/);
  assert.match(table, /│ total\s+│\s+3 │.*│\s+\$13\.00 │\s+¥85\.20 \+ \$0\.0015 \(\+1 unpriced\) │/);
  // By model too, the billed column shows once some upstream bills other than the list price in USD.
  assert.match(await run('--by', 'model'), /│ list cost \(USD\) │\s+billed │/);
});
