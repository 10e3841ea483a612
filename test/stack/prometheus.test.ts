/**
 * The dashboard and the alert rules on a real Prometheus, without Docker or Grafana: Debian's
 * prometheus scrapes a claude-meter on Redis every second (the shipped prometheus.yml with the
 * target and intervals swapped) while the official SDK sends JSON and SSE traffic through it:
 * cache reads and writes, three models (one unpriced), upstream 400/500/529 and a stream cut
 * by an error event, a throttle budget that paces, a hard cap that refuses, a shadow budget and
 * a threshold alert webhook. Then every variable and every panel query of the committed
 * dashboard is interpolated as Grafana would and evaluated through the HTTP API: each must
 * succeed and return data, unless its panel says it can be empty in a healthy system (then it
 * must parse). The shipped rules are loaded too and must all evaluate without error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Anthropic from '@anthropic-ai/sdk';
import { parse } from 'yaml';
import { startMockAnthropic, type Scenario } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.ts';
import { startMockAdminApi } from '../helpers/mock-admin-api.ts';
import { ROOT, interpolate, loadDashboard, parseLabelValues, queryVariables, regexAlternation, targets } from './dashboard-model.ts';

/** An Etc/GMT zone where it is about noon now, so no budget day ends during the test. */
function noonZone(): string {
  let off = 12 - new Date().getUTCHours();
  if (off < -11) off += 24;
  return off === 0 ? 'UTC' : `Etc/GMT${off > 0 ? '-' : '+'}${Math.abs(off)}`;
}

const SCENARIOS: Record<string, Scenario> = {
  cache: {
    kind: 'message',
    usage: {
      input_tokens: 200,
      output_tokens: 40,
      cache_read_input_tokens: 5_000,
      cache_creation_input_tokens: 1_000,
      cache_creation: { ephemeral_5m_input_tokens: 600, ephemeral_1h_input_tokens: 400 },
    },
  },
  plain: { kind: 'message', usage: { input_tokens: 1_000, output_tokens: 200 } },
  overloaded: { kind: 'error', status: 529, type: 'overloaded_error' },
  server: { kind: 'error', status: 500, type: 'api_error' },
  invalid: { kind: 'error', status: 400, type: 'invalid_request_error' },
  cut: { kind: 'stream-error', usage: { input_tokens: 300, output_tokens: 20 } },
};

async function webhookSink(t: { after(fn: () => unknown): void }): Promise<string> {
  const server = http.createServer((req, res) => req.resume().on('end', () => res.end('ok')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

/** The values of every query variable, chained in dashboard order, and Grafana's "All" for each. */
async function variableValues(prom: RunningPrometheus): Promise<{ all: Record<string, string>; empty: string[] }> {
  const all: Record<string, string> = {};
  const empty: string[] = [];
  const start = Math.floor(Date.now() / 1000) - 600;
  for (const v of queryVariables(loadDashboard())) {
    const [selector, label] = parseLabelValues(interpolate(v.query, all));
    const r = await prom.api<{ data: Array<Record<string, string>> }>(
      `/api/v1/series?match[]=${encodeURIComponent(selector)}&start=${start}`,
    );
    const values = [...new Set(r.data.map((s) => s[label]).filter((x): x is string => x !== undefined && x !== ''))].sort();
    if (values.length === 0) empty.push(v.name);
    all[v.name] = v.allValue ?? regexAlternation(values);
  }
  return { all, empty };
}

test('every dashboard query returns data on a real Prometheus scraping claude-meter under replayed traffic; the rules evaluate', async (t) => {
  const t0 = Date.now();
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  up.setScenario((req) => {
    const body = JSON.parse(req.body.toString()) as { metadata?: { user_id?: string } };
    return SCENARIOS[body.metadata?.user_id ?? 'plain'] ?? SCENARIOS['plain']!;
  });
  const zone = noonZone();
  const day = { window: 'day', timezone: zone } as const;
  // Reconciliation on: Anthropic's usage report (a mock of the Admin API) says two models were
  // used in the last complete hours; the proxy checks at start, so the capture panels have data.
  const admin = await startMockAdminApi(t);
  for (const model of ['claude-sonnet-4-6', 'claude-haiku-4-5-20251001'])
    admin.usage.push({ at: t0 - 2 * 3_600_000, model, api_key_id: 'apikey_stack', uncached_input_tokens: 10_000, output_tokens: 1_000 });
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: {
      store: { redis: { url: redis.url } },
      metrics: { tag_label: true },
      alerts: { webhook_url: await webhookSink(t), timeout_ms: 2_000, max_attempts: 1 },
      forecast: { update_interval_ms: 500, refit_interval_ms: 1_000 },
      budgets: [
        budget({
          name: 'paced',
          match: { key: [], model: [], path: [], tag: ['app'], upstream: [] },
          ...day,
          limit_usd: 1,
          action: 'throttle',
          alert_at: [0.5],
        }),
        budget({
          name: 'capped',
          scope: 'per_tag',
          match: { key: [], model: [], path: [], tag: ['batch'], upstream: [] },
          ...day,
          limit_usd: 0.02,
          alert_at: [0.5, 1],
        }),
        budget({ name: 'shadow', scope: 'per_model', ...day, limit_usd: 0.002, action: 'shadow' }),
        // A budget in yuan, far from its limit: the currency variable lists CNY beside USD.
        budget({ name: 'yuan', match: { key: [], model: [], path: [], tag: ['web'], upstream: [] }, ...day, limit: 1000, currency: 'CNY' }),
      ],
      exchange_rates: { USD_CNY: 7.1 },
      reconcile: { enabled: true, admin_key: admin.key, api_url: admin.url, upstreams: ['default'], window_hours: 24, interval_ms: 60_000 },
    },
  });
  const port = new URL(url).port;

  const shipped = parse(readFileSync(`${ROOT}prometheus/prometheus.yml`, 'utf8')) as { scrape_configs: Array<Record<string, unknown>> };
  const prom = await startPrometheus(t, {
    ...shipped,
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [`${ROOT}prometheus/rules.yml`],
    scrape_configs: shipped.scrape_configs.map((c) => ({
      ...c,
      scrape_interval: '1s',
      static_configs: [{ targets: [`127.0.0.1:${port}`] }],
    })),
  });

  // Traffic until the checks are done: four clients, every scenario, JSON and SSE alternating.
  const client = (tag: string | null) =>
    new Anthropic({
      apiKey: `sk-stack-${tag ?? 'none'}`,
      baseURL: url,
      maxRetries: 0,
      timeout: 10_000,
      ...(tag ? { defaultHeaders: { 'x-meter-tag': tag } } : {}),
    });
  const lanes: Array<{ c: Anthropic; model: string; mix: string[]; low?: boolean }> = [
    { c: client('app'), model: 'claude-sonnet-4-6', mix: ['cache', 'cache', 'plain'], low: true },
    { c: client('batch'), model: 'claude-haiku-4-5', mix: ['plain', 'cache'] },
    // Only the yuan budget, far from its limit, matches this lane: priced traffic keeps flowing after the others are refused.
    { c: client('web'), model: 'claude-sonnet-4-6', mix: ['cache', 'plain'] },
    { c: client(null), model: 'claude-unpriced-9', mix: ['plain', 'overloaded', 'server', 'invalid', 'cut'] },
  ];
  let running = true;
  let sent = 0;
  const drive = async (lane: (typeof lanes)[number]): Promise<void> => {
    for (let i = 0; running; i++) {
      const scenario = lane.mix[i % lane.mix.length]!;
      const params = {
        model: lane.model,
        max_tokens: 64,
        metadata: { user_id: scenario },
        messages: [{ role: 'user' as const, content: 'hi' }],
      };
      const headers = lane.low && i % 4 === 3 ? { headers: { 'x-meter-priority': 'low' } } : {};
      const stream = scenario === 'cut' || i % 2 === 1;
      await (stream ? lane.c.messages.stream(params, headers).finalMessage() : lane.c.messages.create(params, headers)).catch(
        () => undefined,
      );
      sent++;
      await sleep(40);
    }
  };
  const traffic = Promise.all(lanes.map(drive));
  t.after(async () => {
    running = false;
    await traffic;
  });

  // Evaluate until every query that must have data has it (rate() needs two scrapes of a series).
  const all = targets(loadDashboard());
  let failures: string[] = [];
  let emptyAllowed: string[] = [];
  let vars = { all: {} as Record<string, string>, empty: [] as string[] };
  const deadline = Date.now() + 40_000;
  for (let attempt = 0; ; attempt++) {
    await sleep(attempt === 0 ? 4_000 : 1_000);
    vars = await variableValues(prom);
    failures = [...vars.empty.map((v) => `variable $${v}: no values`)];
    emptyAllowed = [];
    for (const q of all) {
      const expr = interpolate(q.expr, vars.all);
      const r = await prom.query(expr);
      if (r.status !== 'success') failures.push(`${q.panel} [${q.refId}]: ${r.error}\n    ${expr}`);
      else if ((r.data?.result.length ?? 0) === 0) {
        if (q.emptyOk) emptyAllowed.push(`${q.panel} [${q.refId}]`);
        else failures.push(`${q.panel} [${q.refId}]: no data\n    ${expr}`);
      }
    }
    if (failures.length === 0 || Date.now() > deadline) break;
  }
  assert.deepEqual(
    failures,
    [],
    `${failures.length} of ${all.length} dashboard queries failed after ${sent} requests:\n${failures.join('\n')}`,
  );

  // The shipped rules, evaluated every second on the same data: none may error.
  const rules = await prom.api<{ data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } }>(
    '/api/v1/rules',
  );
  const evaluated = rules.data.groups.flatMap((g) => g.rules);
  assert.ok(evaluated.length >= 17, `rules loaded: ${evaluated.length}`);
  assert.deepEqual(
    evaluated.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`),
    [],
  );

  // The settled-USD counter equals the budget ledger exactly (one proxy, one calendar day).
  running = false;
  await traffic;
  await app.flush();
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (re: RegExp): number => Number(re.exec(text)?.[1]);
  const settled = value(/^claude_meter_budget_settled_usd_total\{budget="capped",budget_instance="batch"\} (\S+)$/m);
  assert.ok(settled > 0);
  assert.equal(settled, value(/^claude_meter_budget_spent_usd\{budget="capped",budget_instance="batch"\} (\S+)$/m));
  assert.equal(settled, value(/^claude_meter_budget_settled_total\{budget="capped",budget_instance="batch",currency="USD"\} (\S+)$/m));
  // The yuan budget: in the currency-labelled families only, its counter equal to its ledger too.
  const yuan = value(/^claude_meter_budget_settled_total\{budget="yuan",budget_instance="\*",currency="CNY"\} (\S+)$/m);
  assert.ok(yuan > 0);
  assert.equal(yuan, value(/^claude_meter_budget_spent\{budget="yuan",budget_instance="\*",currency="CNY"\} (\S+)$/m));
  assert.doesNotMatch(text, /^claude_meter_budget_\w+_usd(_total)?\{budget="yuan"/m, 'no yuan in a _usd family');
  assert.deepEqual(
    (await prom.api<{ data: string[] }>('/api/v1/label/currency/values')).data,
    ['CNY', 'USD'],
    'the currency variable has both currencies',
  );
  t.diagnostic(
    `${all.length} queries, ${sent} requests, ${((Date.now() - t0) / 1000).toFixed(1)} s; empty as allowed: ${emptyAllowed.join(', ') || 'none'}`,
  );
});
