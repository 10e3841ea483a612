/**
 * Message Batches across proxies sharing a real Redis (docs/batches.md): a batch created through
 * one proxy and downloaded twice through another, concurrently, is counted once per custom_id,
 * for the key and tag that created it; a budget's hold made on the first is released by the
 * download on the second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockBatches, type MockResult } from '../helpers/mock-batches.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';

const ENDED = Date.parse('2026-12-06T23:30:00Z');

function sdk(baseURL: string, key: string, tag?: string): Anthropic {
  return new Anthropic({ apiKey: key, baseURL, maxRetries: 0, ...(tag ? { defaultHeaders: { 'x-meter-tag': tag } } : {}) });
}

test('created on one proxy, downloaded twice at once through another: each custom_id counts once, for its creator; the hold is released', async (t) => {
  const redis = await startRedis({ t });
  const mock = await startMockBatches(t);
  const store = { redis: { url: redis.url, cluster_nodes: [], key_prefix: 'bt', budget_leases: true } };
  const budgets = [budget({ name: 'month', limit_usd: 100, window: 'month' })];
  const a = await startProxy(t, { upstream: mock.url, forecasting: false, config: { store, budgets } });
  const b = await startProxy(t, { upstream: mock.url, forecasting: false, config: { store, budgets } });

  const n = 60;
  const created = await sdk(a.url, 'sk-ant-api03-creator-aaaa', 'etl').messages.batches.create({
    requests: Array.from({ length: n }, (_, i) => ({
      custom_id: `c${i}`,
      params: { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user' as const, content: `q${i}` }] },
    })),
  });
  const row = async (url: string) =>
    (
      (await (await fetch(`${url}/_meter/budgets`)).json()) as { budgets: { budget: string; spent_usd: number; reserved_usd: number }[] }
    ).budgets.find((r) => r.budget === 'month');
  const held = await row(b.url);
  assert.ok(
    held !== undefined && held.reserved_usd > 0 && held.spent_usd === 0,
    `the create holds its estimate, on every proxy: ${JSON.stringify(held)}`,
  );
  const results: Record<string, MockResult> = {};
  for (let i = 0; i < n; i++)
    results[`c${i}`] =
      i % 4 === 0 ? { type: 'errored' } : { type: 'succeeded', usage: { input_tokens: 500, output_tokens: 50 }, model: 'claude-haiku-4-5' };
  mock.end(created.id, results, ENDED);

  const downloader = sdk(b.url, 'sk-ant-api03-other-bbbb', 'ops');
  const read = async (): Promise<number> => {
    let k = 0;
    for await (const _ of await downloader.messages.batches.results(created.id)) k++;
    return k;
  };
  assert.deepEqual(await Promise.all([read(), read()]), [n, n]);
  assert.equal(await read(), n, 'a third download, after the results were claimed whole');
  await Promise.all([a.app.flush(), b.app.flush()]);

  const all = [...(await a.app.store.recent(10_000))];
  const lines = all.filter((r) => r.id.startsWith(`batch_${created.id}_`));
  assert.equal(lines.length, 45, 'each succeeded line once, across two concurrent downloads and a third');
  const creatorKey = all.find((r) => r.path === '/v1/messages/batches' && !r.id.startsWith('batch_') && r.tag === 'etl')?.keyId;
  assert.ok(creatorKey);
  assert.ok(lines.every((r) => r.keyId === creatorKey && r.tag === 'etl' && r.ts === ENDED));
  // Haiku 4.5: $1 in / $5 out per MTok; batch half: (500 × 1e6 + 50 × 5e6) / 2 = 375,000,000 pico a line.
  const spent = lines.reduce((s, r) => s + r.billedPico, 0);
  assert.equal(spent, 45 * 375_000_000);

  // The budget counts the lines' spend, and the hold is gone.
  const inst = await row(a.url);
  assert.ok(inst);
  assert.equal(inst.spent_usd, (45 * 375_000_000) / 1e12);
  assert.equal(inst.reserved_usd, 0, 'the hold was released by the download read whole');
});
