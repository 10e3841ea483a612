/**
 * Continuous reconciliation: two proxies on one Redis, real traffic through one of them, a mock of
 * the Admin API. Each tick one proxy of the deployment reads the usage report (the lock) and both
 * export the same capture ratio per model; a failed read keeps the last values and says so.
 * Ticks are driven with explicit times (no timers, no sleeps).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAdminApi } from '../helpers/mock-admin-api.ts';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startProxy } from '../helpers/start-proxy.ts';

const SONNET = 'claude-sonnet-4-5-20250929';
const H = 3_600_000;

test('one proxy reads the usage report per interval, both export the capture ratio per model; a failed read keeps the last values', async (t) => {
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 100 } }));
  const admin = await startMockAdminApi(t);
  const config = {
    store: { redis: { url: redis.url, cluster_nodes: [], key_prefix: 'rpoll' } },
    reconcile: { enabled: true, admin_key: admin.key, api_url: admin.url, upstreams: ['default'], window_hours: 24, interval_ms: 60_000 },
  };
  const a = await startProxy(t, { upstream: up.url, forecasting: false, config });
  const b = await startProxy(t, { upstream: up.url, forecasting: false, config });
  const client = new Anthropic({ apiKey: 'sk-poll', baseURL: a.url, maxRetries: 0 });
  for (let i = 0; i < 2; i++) await client.messages.create({ model: SONNET, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  await a.app.flush();

  const sent = Date.now();
  // Anthropic saw twice what passed through the proxy: the other half went around it.
  admin.usage.push({ at: sent, model: SONNET, api_key_id: 'apikey_1', uncached_input_tokens: 4000, output_tokens: 400 });
  const now = sent + 2 * H; // the hour of the traffic is complete and landed
  admin.now = now;

  await a.app.reconciler.tick(now);
  await b.app.reconciler.tick(now + 5_000);
  assert.equal(admin.requests.filter((q) => q.listing === 'usage' && q.page === 1).length, 1, 'one read for the deployment');
  const usage = admin.requests.find((q) => q.listing === 'usage');
  assert.equal(usage?.query.get('bucket_width'), '1h');
  assert.equal(Date.parse(usage?.query.get('ending_at') ?? '') - Date.parse(usage?.query.get('starting_at') ?? ''), 24 * H);

  for (const p of [a, b]) {
    const text = await p.app.metrics.registry.metrics();
    assert.match(text, new RegExp(`claude_meter_reconcile_capture_ratio\\{model="${SONNET}"\\} 0\\.5\\n`));
    assert.match(text, new RegExp(`claude_meter_reconcile_last_check_timestamp_seconds ${now / 1000}\\n`));
    assert.equal(p.app.reconciler.latest()?.overall, 0.5);
  }
  assert.match(await a.app.metrics.registry.metrics(), /claude_meter_reconcile_checks_total\{outcome="checked"\} 1/);
  assert.match(await b.app.metrics.registry.metrics(), /claude_meter_reconcile_checks_total\{outcome="adopted"\} 1/);

  // The health route (the status page's line) carries the latest check.
  const health = (await (await fetch(`${b.url}/_meter/health`)).json()) as { reconcile: Record<string, unknown> };
  assert.equal(health.reconcile['enabled'], true);
  assert.equal(health.reconcile['capture'], 0.5);
  assert.equal(health.reconcile['checked_at'], new Date(now).toISOString());
  assert.equal(health.reconcile['error'], null);

  // Within the interval nobody reads again; after it, one proxy does. A refused key keeps the last values.
  await a.app.reconciler.tick(now + 30_000);
  assert.equal(admin.requests.filter((q) => q.listing === 'usage' && q.page === 1).length, 1);
  admin.key = 'sk-ant-admin01-rotated';
  await b.app.reconciler.tick(now + 61_000);
  assert.equal(admin.requests.filter((q) => q.listing === 'usage' && q.page === 1).length, 2);
  const text = await b.app.metrics.registry.metrics();
  assert.match(text, /claude_meter_reconcile_checks_total\{outcome="failed"\} 1/);
  assert.match(text, new RegExp(`claude_meter_reconcile_capture_ratio\\{model="${SONNET}"\\} 0\\.5\\n`));
  assert.match(String(b.app.reconciler.lastError()), /refused the admin key \(HTTP 401/);
});

test('off by default: no timer, no read, no series', async (t) => {
  const up = await startMockAnthropic(t);
  const admin = await startMockAdminApi(t);
  const { app, url } = await startProxy(t, { upstream: up.url, forecasting: false });
  await app.reconciler.tick(Date.now());
  assert.equal(admin.requests.length, 0);
  assert.doesNotMatch(await app.metrics.registry.metrics(), /claude_meter_reconcile_capture_ratio\{/);
  const health = (await (await fetch(`${url}/_meter/health`)).json()) as { reconcile: unknown };
  assert.deepEqual(health.reconcile, { enabled: false });
});
