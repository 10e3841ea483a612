/**
 * Replay: the first 2,000 requests of the Azure 2023 conversation trace through the
 * proxy at concurrency 32, the mock upstream answering with exactly those token
 * counts (half streamed, half JSON). The store's totals and /metrics must equal the
 * trace's sums exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';

const TRACE = fileURLToPath(new URL('../../data/azure2023_conv.csv', import.meta.url));
const MODEL = 'claude-sonnet-4-6'; // $3 in / $15 out per MTok = 3,000,000 / 15,000,000 pico-USD per token
const N = 2000;
const CONCURRENCY = 32;

interface Row {
  input: number;
  output: number;
}

function readTrace(): Row[] {
  const lines = readFileSync(TRACE, 'utf8')
    .trim()
    .split('\n')
    .slice(1, N + 1);
  return lines.map((l) => {
    const [, , input, output] = l.split(',');
    return { input: Number(input), output: Number(output) };
  });
}

test('replay of 2,000 Azure conv requests: store totals and /metrics equal the trace sums exactly', async (t) => {
  const rows = readTrace();
  assert.equal(rows.length, N);
  const up = await startMockAnthropic(t);
  up.setScenario((req) => {
    const body = JSON.parse(req.body.toString()) as { metadata: { user_id: string } };
    const row = rows[Number(body.metadata.user_id)];
    assert.ok(row);
    return { kind: 'message', usage: { input_tokens: row.input, output_tokens: row.output }, text: 'ok' };
  });
  const { app, url } = await startProxy(t, { upstream: up.url });
  const client = new Anthropic({ apiKey: 'sk-replay', baseURL: url, maxRetries: 0 });

  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const i = next++;
      const params = {
        model: MODEL,
        max_tokens: 4096,
        metadata: { user_id: String(i) },
        messages: [{ role: 'user' as const, content: 'x' }],
      };
      if (i % 2 === 0) await client.messages.create(params);
      else await client.messages.stream(params).finalMessage();
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await app.recorder.flush();

  const sumIn = rows.reduce((a, r) => a + r.input, 0);
  const sumOut = rows.reduce((a, r) => a + r.output, 0);
  const cost = rows.reduce((a, r) => a + BigInt(r.input) * 3_000_000n + BigInt(r.output) * 15_000_000n, 0n);

  const q = await app.store.query({ by: 'all', granularity: 'day', from: t0 - 86_400_000, to: Date.now() + 60_000 });
  const totals = q.reduce(
    (a, r) => ({
      req: a.req + r.totals.requests,
      input: a.input + r.totals.tokens.input,
      output: a.output + r.totals.tokens.output,
      cost: a.cost + r.totals.costPicoUsd,
    }),
    { req: 0, input: 0, output: 0, cost: 0n },
  );
  assert.equal(totals.req, N);
  assert.equal(totals.input, sumIn);
  assert.equal(totals.output, sumOut);
  assert.equal(totals.cost, cost);

  const metrics = await (await fetch(`${url}/metrics`)).text();
  const value = (re: RegExp) => Number(metrics.match(re)?.[1]);
  assert.equal(value(new RegExp(`claude_meter_tokens_total\\{model="${MODEL}",upstream="default",kind="input"\\} (\\S+)`)), sumIn);
  assert.equal(value(new RegExp(`claude_meter_tokens_total\\{model="${MODEL}",upstream="default",kind="output"\\} (\\S+)`)), sumOut);
  assert.equal(value(new RegExp(`claude_meter_requests_total\\{model="${MODEL}",upstream="default",status="200"\\} (\\S+)`)), N);
  // The exported USD is the nearest double to the exact pico-USD total.
  assert.equal(value(new RegExp(`claude_meter_cost_usd_total\\{model="${MODEL}"\\} (\\S+)`)), Number(cost) / 1e12);
});
