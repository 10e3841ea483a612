/**
 * /_meter/usage?by=upstream: one row per configured upstream, the list price in USD beside what
 * each upstream billed in its own currency, and the total with one billed entry per currency.
 * Traffic through the proxy goes to the `default` upstream; records of other upstreams are
 * written to the same store as the exchange writes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { rec } from '../contract/fixtures.ts';

interface Billed {
  [currency: string]: { amount: number; pico: string };
}
interface Row {
  value: string;
  requests: number;
  cost_usd: number;
  cost_pico_usd: string;
  unpriced: number;
  billed: Billed;
  billed_unpriced: number;
}

test('by=upstream: each upstream with its list USD and its billed amount in its own currency', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1_000, output_tokens: 100 } }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const c = new Anthropic({ apiKey: 'sk-upstreams', baseURL: url, maxRetries: 0 });
  for (let i = 0; i < 2; i++)
    await c.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  const now = Date.now();
  await app.store.write(rec({ ts: now, upstream: 'holysheep', costPicoUsd: 3_000_000_000, currency: 'CNY', billedPico: 21_300_000_000 }));
  await app.store.write(
    rec({ ts: now, upstream: 'holysheep', costPicoUsd: 1_000_000_000, currency: 'CNY', billedPico: 0, billedUnpriced: true }),
  );
  await app.store.write(rec({ ts: now, upstream: 'eu', costPicoUsd: 2_000_000_000, currency: 'EUR', billedPico: 1_850_000_000 }));
  await app.recorder.flush();

  const res = await fetch(`${url}/_meter/usage?window=minute&by=upstream`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { by: string; rows: Row[]; total: Row };
  assert.equal(body.by, 'upstream');
  const rows = body.rows.map((r) => [r.value, r.requests, r.cost_pico_usd, r.billed, r.billed_unpriced]);
  // Haiku 4.5: 1,000 × $1/MTok + 100 × $5/MTok = $0.0015 a request, billed at list in USD.
  assert.deepEqual(rows, [
    ['default', 2, '3000000000', { USD: { amount: 0.003, pico: '3000000000' } }, 0],
    ['eu', 1, '2000000000', { EUR: { amount: 0.00185, pico: '1850000000' } }, 0],
    ['holysheep', 2, '4000000000', { CNY: { amount: 0.0213, pico: '21300000000' } }, 1],
  ]);
  assert.deepEqual(body.total.billed, {
    CNY: { amount: 0.0213, pico: '21300000000' },
    EUR: { amount: 0.00185, pico: '1850000000' },
    USD: { amount: 0.003, pico: '3000000000' },
  });
  assert.deepEqual([body.total.requests, body.total.cost_pico_usd, body.total.billed_unpriced], [5, '9000000000', 1]);

  const bad = await fetch(`${url}/_meter/usage?by=provider`);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /upstream/);
});
