/**
 * Redis SIGKILLed and restarted while a few hundred SDK requests, JSON and streaming, keep
 * coming: no client sees an error, every record reaches Redis once it is back (each once),
 * and the store's totals and the budget's spend equal what the upstream billed, token kind
 * by token kind and in pico-USD. Redis runs with fsync on every write, so what it
 * acknowledged before the kill survives it; the rest is the journal's and the settle queue's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { Redis } from 'ioredis';
import { startMockAnthropic, type MockUsage } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { bill, billOf, globalBudget, SONNET, storeTotals } from '../helpers/ledger.ts';
import { waitFor } from '../helpers/wait.ts';

const N = 320;
const WORKERS = 8;
const KILL_AT = 80; // answers before the kill
const RESTART_AT = 160; // answers before the restart starts: ~80 answered while Redis is gone

/** Every kind of token, and an output that differs per request: a lost or doubled record changes the sums. */
function usageFor(body: Buffer): MockUsage {
  const { max_tokens } = JSON.parse(body.toString()) as { max_tokens: number };
  return {
    input_tokens: 1200,
    output_tokens: max_tokens,
    cache_read_input_tokens: 800,
    cache_creation_input_tokens: 300,
    cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
  };
}

test('Redis killed and restarted under sustained traffic: zero client errors, every record stored once, totals and budget exact', async (t) => {
  const redis = await startRedis({ t, persist: true });
  const up = await startMockAnthropic(t);
  up.setScenario((req) => ({ kind: 'message', usage: usageFor(req.body), chunkSize: 97 }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: {
      store: { redis: { url: redis.url, key_prefix: 'cm' } },
      budgets: [budget({ name: 'day', scope: 'global', window: 'day', limit_usd: 1000, on_store_error: 'allow' })],
    },
  });
  const metrics = async () => (await fetch(`${url}/metrics`)).text();
  const sdk = new Anthropic({ apiKey: 'sk-ant-api03-fault-suite', baseURL: url, maxRetries: 0 });

  let next = 0;
  let answered = 0;
  const errors: unknown[] = [];
  let killed: Promise<void> | null = null;
  let restarted: Promise<void> | null = null;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < N; i = next++) {
      const params = { model: SONNET, max_tokens: 100 + i, messages: [{ role: 'user' as const, content: `request ${i}` }] };
      try {
        const msg = i % 2 === 0 ? await sdk.messages.create(params) : await sdk.messages.stream(params).finalMessage();
        assert.equal(msg.usage.output_tokens, 100 + i, 'the answer to this request');
      } catch (err) {
        errors.push(err);
      }
      answered += 1;
      if (answered === KILL_AT) killed = redis.kill();
      if (answered === RESTART_AT) restarted = (killed as Promise<void>).then(() => redis.restart());
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  assert.deepEqual(errors, [], 'no client saw an error');
  assert.equal(answered, N);
  await restarted;

  // Records and settles made during the outage wait in the journal and the settle queue, retried with backoff.
  await waitFor(
    'every record written and every settle applied',
    async () => {
      await app.flush();
      return app.recorder.stats().written === N && /^claude_meter_budget_settles_pending 0$/m.test(await metrics());
    },
    30_000,
  );
  const text = await metrics();
  assert.match(
    text,
    /^claude_meter_store_records_total\{event="journaled"\} [1-9]/m,
    'records were journaled: the outage happened under traffic',
  );
  assert.match(text, /^claude_meter_store_records_total\{event="replayed"\} [1-9]/m);
  assert.equal(app.recorder.stats().dropped, 0);

  const r = new Redis(redis.url);
  t.after(() => r.quit());
  assert.equal(await r.xlen('{cm}:events'), N, 'one stream entry per request');
  const totals = await storeTotals(app.store);
  assert.equal(totals.requests, N);
  assert.equal(up.billed.length, N);
  const billed = bill(up.billed);
  assert.deepEqual(billOf(totals), billed, 'tokens by kind and cost equal what the upstream billed');
  const day = await globalBudget(app, 'day');
  assert.deepEqual(day, { spentPico: Number(billed.costPicoUsd), reservedPico: 0 }, 'the budget spent exactly the bill');
});
