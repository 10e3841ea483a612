/**
 * The status page at /_meter/ in headless Chromium (Debian's chromium through playwright-core)
 * against a proxy on the embedded store with known traffic: every rendered number is compared
 * with the store's and the gate's own answers, and a screenshot is saved as a test artifact.
 * Never skipped: without chromium this test fails (CI installs it, see .ci/run).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { chromium, type Page } from 'playwright-core';
import OpenAI from 'openai';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startMockRelay } from '../helpers/mock-relay.ts';
import { startMockAdminApi } from '../helpers/mock-admin-api.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { hashKey } from '../../src/http/identify.ts';
import { picoToUnits, picoToUsd } from '../../src/core/money.ts';
import { UPSTREAM_DEFAULTS } from '../../src/config/defaults.ts';
import { budgetsReport } from '../../src/report/budgets.ts';
import { forecastReport } from '../../src/report/forecasts.ts';
import { sumByValue, sumRows } from '../../src/report/usage.ts';
import type { Dimension } from '../../src/store/types.ts';
import { ADMIN_TOKEN, firstMinutes, START } from '../helpers/first-minutes.ts';

const TOKEN = 'status-page-admin-token';
const KEYS = ['sk-ant-status-key-one-RAW', 'sk-ant-status-key-two-RAW'];
const ARTIFACT = resolve('test/artifacts/status-page.png');

/** CHROMIUM_PATH, else `chromium` on the PATH; missing is a failure, not a skip. */
function chromiumPath(): string {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv) return fromEnv;
  try {
    return (
      execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim().split('\n')[0] ?? ''
    );
  } catch {
    throw new Error("chromium not found: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH");
  }
}

/** The page in headless Chromium (UTC, en-US), logged in with the admin token and rendered once; no page errors. */
async function openPage(t: TestContext, url: string, token = TOKEN): Promise<Page> {
  const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  t.after(() => browser.close());
  // UTC in the browser, so "today" on the page is the UTC day the store is queried for.
  const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-US', viewport: { width: 1320, height: 900 } });
  const page = await context.newPage();
  const failures: string[] = [];
  page.on('pageerror', (e) => failures.push(String(e)));
  page.on('requestfailed', (r) => failures.push(`${r.url()} ${r.failure()?.errorText ?? ''}`));
  await page.goto(`${url}/_meter/`);
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#token', token);
  await page.click('#login button');
  await page.locator('body[data-refreshes]').waitFor({ timeout: 20_000 });
  assert.deepEqual(failures, []);
  return page;
}

const attr = (page: Page, selector: string, name = 'data-value') => page.locator(selector).first().getAttribute(name);
// innerText, not textContent: what a person sees (hidden elements and CSS text transforms applied).
// biome-ignore lint/performance/useDomNodeTextContent: the visible text is what is asserted
const text = (page: Page, selector: string) => page.locator(selector).first().innerText();

test("status page renders the store's numbers: budgets, chart, spend by model, top keys and tags, 429s, health", async (t) => {
  const up = await startMockAnthropic(t);
  let upstream429 = 2;
  up.setScenario((req) => {
    if (upstream429 > 0) {
      upstream429--;
      return { kind: 'error', status: 429, type: 'rate_limit_error', message: 'upstream says slow down' };
    }
    const big = req.body.toString().includes('claude-sonnet');
    return {
      kind: 'message',
      usage: big ? { input_tokens: 2000, output_tokens: 400, cache_read_input_tokens: 8000 } : { input_tokens: 1000, output_tokens: 100 },
    };
  });
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: {
      admin: { token: TOKEN },
      budgets: [
        budget({ name: 'daily', limit_usd: 0.05, window: 'day', alert_at: [0.5] }),
        // A budget in yuan for team-a's traffic, far from its limit: shown in yuan, never in dollars.
        budget({
          name: 'yuan',
          limit: 1000,
          currency: 'CNY',
          window: 'day',
          match: { key: [], tag: ['team-a'], model: [], path: [], upstream: [] },
        }),
      ],
      exchange_rates: { USD_CNY: 7.1 },
    },
  });
  const clients = KEYS.map(
    (k, i) =>
      new Anthropic({ apiKey: k, baseURL: url, maxRetries: 0, defaultHeaders: { 'x-meter-tag': i === 0 ? 'team-a' : 'batch-jobs' } }),
  );
  const ask = async (c: Anthropic, model: string) => {
    try {
      await c.messages.create({ model, max_tokens: 400, messages: [{ role: 'user', content: 'hello' }] });
      return 200;
    } catch (err) {
      return (err as { status?: number }).status ?? 0;
    }
  };
  const statuses: number[] = [];
  for (let i = 0; i < 2; i++) statuses.push(await ask(clients[0]!, 'claude-haiku-4-5')); // the upstream's own 429s
  for (let i = 0; i < 6; i++) statuses.push(await ask(clients[0]!, 'claude-haiku-4-5'));
  for (let i = 0; i < 9; i++) statuses.push(await ask(clients[1]!, 'claude-sonnet-4-6')); // runs into the $0.05 budget
  assert.ok(statuses.filter((s) => s === 429).length >= 3, `some budget 429s: ${statuses.join(',')}`);
  await app.flush();
  await app.forecasts.update(Date.now());

  // The page loads without the token; the data does not.
  const html = await fetch(`${url}/_meter/`);
  assert.equal(html.status, 200);
  assert.match(html.headers.get('content-type') ?? '', /text\/html/);
  assert.match(html.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.ok(!(await html.text()).includes(TOKEN));
  assert.equal((await fetch(`${url}/_meter/top`)).status, 401);

  const page = await openPage(t, url);
  // One upstream billing in dollars: nothing to tell apart, so no Upstreams panel.
  assert.equal(await page.locator('#upstreams-panel').isHidden(), true);

  const now = Date.now();
  const from = Math.floor(now / 86_400_000) * 86_400_000;
  const q = (by: Dimension) => app.store.query({ by, granularity: 'day', from, to: now + 1 });
  const total = sumRows(await q('all'));
  assert.equal(Number(await attr(page, '#total-requests')), total.requests);
  assert.equal(total.requests, statuses.length);
  assert.equal(Number(await attr(page, '#total-cost')), picoToUsd(total.costPicoUsd));
  assert.match(await text(page, '#total-cost'), new RegExp(`^\\$${picoToUsd(total.costPicoUsd).toFixed(4).replace('.', '\\.')}$`));
  assert.equal(Number(await attr(page, '#total-errors')), total.errors);

  for (const [id, by] of [
    ['models', 'model'],
    ['keys', 'key'],
    ['tags', 'tag'],
  ] as const) {
    const sums = sumByValue(await q(by));
    assert.equal(await page.locator(`#${id} tbody tr`).count(), sums.size, id);
    for (const [value, tot] of sums) {
      const row = `#${id} tr[data-value="${value}"]`;
      assert.equal(Number(await attr(page, `${row} [data-field="cost_usd"]`)), picoToUsd(tot.costPicoUsd), `${id} ${value}`);
      assert.equal(Number(await attr(page, `${row} [data-field="requests"]`)), tot.requests, `${id} ${value}`);
    }
  }
  assert.equal(await page.locator(`#keys tr[data-value="${hashKey(KEYS[1]!)}"]`).count(), 1, 'keys appear as key ids');

  const [b, y] = await budgetsReport(app.gate, Date.now());
  const fc = forecastReport(app.forecasts, Date.now()) as Array<{ budget: string; projected: { p50: number } }>;
  const p50 = fc.find((f) => f.budget === 'daily')!.projected.p50;
  const row = '#budgets tr[data-budget="daily"][data-instance="*"]';
  assert.equal(await attr(page, row, 'data-currency'), 'USD');
  assert.equal(Number(await attr(page, `${row} [data-field="spent"]`)), b!.spent_usd);
  assert.equal(Number(await attr(page, `${row} [data-field="reserved"]`)), b!.reserved_usd);
  assert.equal(Number(await attr(page, `${row} [data-field="limit"]`)), 0.05);
  assert.equal(await text(page, `${row} [data-field="limit"]`), '$0.0500');
  assert.equal(Number(await attr(page, `${row} [data-field="projected_p50"]`)), p50);
  assert.equal(await text(page, `${row} [data-field="status"]`), b!.status);

  // The yuan budget's row: its ledger's amounts, in yuan (the report's *_usd fields are null for it).
  const yuanRow = '#budgets tr[data-budget="yuan"][data-instance="*"]';
  assert.equal(y!.currency, 'CNY');
  assert.equal(y!.spent_usd, null);
  assert.equal(await attr(page, yuanRow, 'data-currency'), 'CNY');
  assert.ok(y!.spent > 0, 'team-a spent in the yuan budget');
  assert.equal(Number(await attr(page, `${yuanRow} [data-field="spent"]`)), y!.spent);
  assert.match(await text(page, `${yuanRow} [data-field="spent"]`), /^¥\d[\d,]*\.\d{2,4}$/);
  assert.equal(await text(page, `${yuanRow} [data-field="reserved"]`), '¥0.00');
  // The limit is the catalog's for the budget (in yuan), or a dash while the ledger has none.
  assert.equal(
    await text(page, `${yuanRow} [data-field="limit"]`),
    y!.limit === null ? '—' : `¥${y!.limit.toLocaleString('en-US', { minimumFractionDigits: 2 })}`,
  );
  assert.doesNotMatch(await text(page, yuanRow), /\$/, 'no dollar sign in a yuan row');

  // The chart: today's cumulative spend of the global budget's traffic, its limit and forecast.
  assert.equal(await attr(page, '#chart', 'data-currency'), 'USD');
  assert.equal(Number(await attr(page, '#chart', 'data-spent')), picoToUsd(total.costPicoUsd));
  assert.equal(Number(await attr(page, '#chart', 'data-limit')), 0.05);
  assert.ok(Math.abs(Number(await attr(page, '#chart', 'data-p50-end')) - p50) <= 1e-6, 'the band ends at the forecast');
  for (const cls of ['spent', 'p50', 'band', 'limit']) assert.equal(await page.locator(`#chart .${cls}`).count(), 1, cls);

  // The yuan budget's chart: from its own history (the meter store sums dollars), every amount in yuan.
  const chartJson = (await (await fetch(`${url}/_meter/chart?budget=yuan`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    currency: string;
    limit: number | null;
    limit_usd: number | null;
    source: string;
    spent: Array<[string, number]>;
  };
  assert.deepEqual([chartJson.currency, chartJson.limit_usd, chartJson.source], ['CNY', null, 'budget_history']);
  assert.equal(chartJson.limit, y!.limit);
  await page.selectOption('#chart-choice', 'yuan|*');
  await page.locator('#chart[data-currency="CNY"]').waitFor({ timeout: 15_000 });
  assert.equal(Number(await attr(page, '#chart', 'data-spent')), chartJson.spent.at(-1)![1]);
  const title = await text(page, '#chart-title');
  assert.match(title, /^yuan, window \d{4}-\d\d-\d\d: spent ¥/);
  assert.doesNotMatch(title, /\$/);
  assert.ok(
    (await page.locator('#chart .tick').allTextContents()).some((t) => t.startsWith('¥')),
    'the y axis in yuan',
  );
  await page.selectOption('#chart-choice', 'daily|*');
  await page.locator('#chart[data-currency="USD"]').waitFor({ timeout: 15_000 });

  const refused = (await app.store.recent(100)).filter((r) => r.status === 429);
  assert.ok(refused.length <= 10, 'the page lists the latest 10: all of them here');
  assert.equal(await page.locator('#recent tbody tr').count(), refused.length);
  assert.equal(
    await page.locator('#recent tr[data-reason="budget"]').count(),
    refused.filter((r) => r.usageMissing === 'refused_by_budget').length,
  );
  assert.equal(await page.locator('#recent tr[data-reason="upstream"]').count(), 2);
  assert.match(await text(page, '#recent tr[data-reason="budget"] [data-field="detail"]'), /^refused by budget 'daily': 1\d\d% used$/);
  assert.equal(Number(await attr(page, '#total-429')), refused.length);
  assert.equal(await text(page, '#health [data-field="store"]'), 'memory');
  assert.equal(await text(page, '#health [data-field="records"]'), String(app.recorder.stats().written));
  const content = await page.content();
  for (const k of KEYS) assert.ok(!content.includes(k), 'no raw key on the page');

  mkdirSync(dirname(ARTIFACT), { recursive: true });
  await page.screenshot({ path: ARTIFACT, fullPage: true });
  assert.ok(existsSync(ARTIFACT));

  // It refreshes itself: new traffic shows up without a reload.
  const before = Number(await page.locator('body').getAttribute('data-refreshes'));
  await page.selectOption('#interval', '5');
  statuses.push(await ask(clients[0]!, 'claude-haiku-4-5'));
  await app.flush();
  await page.locator(`body[data-refreshes="${before + 2}"]`).waitFor({ timeout: 15_000 });
  assert.equal(Number(await attr(page, '#total-requests')), statuses.length);
});

test("two upstreams, one billing in yuan: the Upstreams panel shows each one's spend today and usage semantics", async (t) => {
  const def = await startMockAnthropic(t);
  // claude-haiku-4-5 at $1 input and $5 output per MTok: 1,000 + 100 tokens are $0.0015 a request.
  def.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 100 } }));
  // A new-api-like relay: exclusive prompt_tokens with claude_cache_creation_* counts, which prove `anthropic`.
  // Its usage is $0.00975 of list price a request (test/integration/openai-sdk.test.ts), billed ¥7 per $1.
  const relay = await startMockRelay({ semantics: 'newapi', apiKey: 'sk-na' }, t);
  const { app, url } = await startProxy(t, {
    upstream: def.url,
    forecasting: false,
    config: {
      admin: { token: TOKEN },
      upstreams: [
        {
          ...UPSTREAM_DEFAULTS,
          name: 'newapi',
          url: relay.url,
          api: 'openai',
          route: '/newapi',
          api_key: 'sk-na',
          billing: { currency: 'CNY', list_price_factor: 7, pricing: { file: null, models: {} } },
        },
      ],
    },
  });
  const anthropic = new Anthropic({ apiKey: KEYS[0]!, baseURL: url, maxRetries: 0 });
  for (let i = 0; i < 3; i++)
    await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
  const openai = new OpenAI({ apiKey: 'sk-client', baseURL: `${url}/newapi/v1`, maxRetries: 0 });
  for (let i = 0; i < 2; i++)
    await openai.chat.completions.create({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }] });
  await app.flush();

  const page = await openPage(t, url);
  assert.equal(await page.locator('#upstreams-panel').isVisible(), true);
  assert.deepEqual(await page.locator('#upstreams tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-value'))), [
    'default',
    'newapi',
  ]);
  const cells = (name: string) => page.locator(`#upstreams tr[data-value="${name}"] td`).allInnerTexts();
  // name, api, route, requests, list price (USD), billed (its currency), usage semantics
  assert.deepEqual(await cells('default'), ['default', 'anthropic', 'default', '3', '$0.0045', '$0.0045', 'openai assumed']);
  assert.deepEqual(await cells('newapi'), ['newapi', 'openai', '/newapi', '2', '$0.0195', '¥0.1365', 'anthropic proven']);
  assert.equal(await attr(page, '#upstreams tr[data-value="newapi"]', 'data-currency'), 'CNY');

  // The numbers are the store's by=upstream totals, and the readings those of health.
  const now = Date.now();
  const rows = await app.store.query({ by: 'upstream', granularity: 'day', from: Math.floor(now / 86_400_000) * 86_400_000, to: now + 1 });
  const sums = sumByValue(rows);
  for (const [name, currency] of [
    ['default', 'USD'],
    ['newapi', 'CNY'],
  ] as const) {
    const row = `#upstreams tr[data-value="${name}"]`;
    const tot = sums.get(name)!;
    assert.equal(Number(await attr(page, `${row} [data-field="requests"]`)), tot.requests, name);
    assert.equal(Number(await attr(page, `${row} [data-field="cost_usd"]`)), picoToUsd(tot.costPicoUsd), name);
    assert.equal(Number(await attr(page, `${row} [data-field="billed"]`)), picoToUnits(tot.billed[currency]!), name);
  }
  type Health = { upstreams: Array<{ name: string; usage_semantics: { evidence: string | null } }> };
  const health = (await (await fetch(`${url}/_meter/health`)).json()) as Health;
  const evidence = health.upstreams.find((u) => u.name === 'newapi')!.usage_semantics.evidence;
  assert.ok(evidence, 'the relay proved its semantics');
  assert.equal(await attr(page, '#upstreams tr[data-value="newapi"] [data-field="semantics"]', 'title'), evidence);

  // The same readings, as Prometheus scrapes them.
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /^claude_meter_usage_semantics\{upstream="default",semantics="openai",proven="false"\} 1$/m);
  assert.match(metrics, /^claude_meter_usage_semantics\{upstream="newapi",semantics="anthropic",proven="true"\} 1$/m);
});

test("with reconcile.enabled, the Health panel has the capture ratio of the latest check against Anthropic's usage report", async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 100 } }));
  const admin = await startMockAdminApi(t);
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: {
      admin: { token: TOKEN },
      reconcile: { enabled: true, admin_key: admin.key, api_url: admin.url, upstreams: ['default'], window_hours: 24, interval_ms: 60_000 },
    },
  });
  const client = new Anthropic({ apiKey: KEYS[0], baseURL: url, maxRetries: 0 });
  await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hello' }] });
  await app.flush();
  const sent = Date.now();
  // Anthropic served twice what passed through the proxy; the hour of the traffic has landed two hours later.
  admin.usage.push({
    at: sent,
    model: 'claude-haiku-4-5-20251001',
    api_key_id: 'apikey_1',
    uncached_input_tokens: 2000,
    output_tokens: 200,
  });
  const now = sent + 2 * 3_600_000;
  admin.now = now;
  await app.reconciler.tick(now);
  const page = await openPage(t, url);
  const to = new Date(Math.floor((now - 5 * 60_000) / 3_600_000) * 3_600_000).toISOString().slice(11, 16);
  assert.equal(
    await text(page, '#health [data-field="reconciliation"]'),
    `capture 50.0% of Anthropic's usage (24 h to ${to} UTC, checked ${new Date(now).toISOString().slice(11, 16)} UTC)`,
  );
});

interface ChartModule {
  money(v: number | null, currency: string): string;
}
// The page's own formatting (a browser module, loaded as one).
const { money } = (await import(new URL('../../src/http/status/chart.js', import.meta.url).href)) as ChartModule;

test("a new deployment's first minutes (issue #21): the page says the projection is not computed yet, then shows a real band and what it rests on", async (t) => {
  const p = await firstMinutes(t);
  const { release } = await p.burst();
  try {
    const page = await openPage(t, p.url, ADMIN_TOKEN);
    const row = '#budgets tr[data-budget="daily"][data-instance="*"]';
    const cell = `${row} [data-field="projected_p50"]`;
    // 10:33:29: $0.0261 spent, the last update (at the start) saw nothing: not computed, and never $0.00.
    assert.equal(await text(page, `${row} [data-field="spent"]`), '$0.0261');
    assert.equal(await text(page, cell), 'not computed yet');
    assert.deepEqual([await attr(page, cell), await attr(page, cell, 'data-status')], ['', 'no_spend_yet']);
    assert.match(
      await text(page, '#forecast-notes [data-budget="daily"]'),
      /^daily: not computed yet: nothing spent in this window and no history/,
    );
    assert.match(await text(page, '#chart-title'), /^daily, window 2026-12-07: spent \$0\.0261 of \$5\.00 · forecast not computed yet$/);
    assert.equal(await attr(page, '#chart', 'data-forecast-status'), 'no_spend_yet');
    assert.equal(await page.locator('#chart .band').count(), 0, 'no band drawn');
    assert.match(await text(page, '#chart-note'), /^forecast not computed yet/);

    const pass = p.nextPass();
    await p.clock.advanceTo(START + 30_000);
    await pass;
    type Row = { budget: string; status: string; projected: { p10: number; p50: number; p90: number }; note: string };
    const f = (await p.admin<{ forecasts: Row[] }>('/_meter/forecast')).forecasts.find((x) => x.budget === 'daily');
    assert.equal(f?.status, 'computed');
    await page.reload();
    await page.locator('body[data-refreshes]').waitFor({ timeout: 20_000 });
    const { p10, p50, p90 } = f!.projected;
    assert.equal(await text(page, cell), `${money(p10, 'USD')} · ${money(p50, 'USD')} · ${money(p90, 'USD')}`);
    assert.deepEqual([Number(await attr(page, cell)), await attr(page, cell, 'data-status')], [p50, 'computed']);
    // What it rests on, plainly: no history, the pace of the first 34 minutes.
    assert.equal(await text(page, '#forecast-notes [data-budget="daily"]'), `daily: ${f!.note}`);
    assert.match(f!.note, /^no history yet: the pace since the hour of the first spend, 34 minutes of it/);
    assert.equal(await attr(page, '#chart', 'data-forecast-status'), 'computed');
    assert.equal(await page.locator('#chart .band').count(), 1);
    assert.ok(Math.abs(Number(await attr(page, '#chart', 'data-p50-end')) - p50) <= 1e-6, 'the band ends at the forecast');
  } finally {
    await release();
  }
});
