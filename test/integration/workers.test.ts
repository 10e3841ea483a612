/**
 * `claude-meter start --workers 2` as a real process tree (the built command: a primary and two
 * workers) on a real Redis, with the official SDK as the client: the totals of /metrics and of
 * the budget are every request's, whichever worker served it; the log is one stream of whole
 * JSON lines; SIGHUP reaches both workers; the embedded store refuses more than one worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Agent, request } from 'undici';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startWorkers, type WorkersProcess } from '../helpers/workers-process.ts';
import { waitFor } from '../helpers/wait.ts';

const USAGE = { input_tokens: 1000, output_tokens: 100 };
const BUDGET = 'budgets:\n  - name: org\n    limit_usd: 100\n';
const N = 24;

/** One GET on a fresh connection each time: the primary hands new connections to the workers in turn. */
async function fresh(url: string): Promise<{ status: number; text: string }> {
  const agent = new Agent({ pipelining: 0 });
  try {
    const res = await request(url, { dispatcher: agent, headers: { connection: 'close' } });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await agent.close();
  }
}

/** The sum of a metric's samples in a Prometheus text answer. */
function total(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function requestLines(p: WorkersProcess) {
  return p.lines.filter((l) => l.msg === 'request');
}

test('two workers on one port: /metrics and the budget count every request once, both workers served, the log is whole JSON lines; SIGTERM exits 0', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const redis = await startRedis({ t });
  const p = await startWorkers(t, { yaml: BUDGET, env: { UPSTREAM_URL: up.url, REDIS_URL: redis.url } });
  const serving = await Promise.all([1, 2].map((n) => p.line((l) => l.msg === `worker ${n} serving`)));
  assert.deepEqual(
    serving.map((l) => l.worker),
    [1, 2],
  );
  const primary = p.lines.find((l) => l.listen !== undefined);
  assert.equal(primary?.['workers'], 2);
  assert.equal(primary?.worker, undefined, 'the first line is the primary’s');

  // Clients of their own: each opens its connections, which the primary hands out in turn.
  await Promise.all(
    Array.from({ length: N / 4 }, async () => {
      const client = new Anthropic({ apiKey: 'sk-ant-workers', baseURL: p.url, maxRetries: 0 });
      for (let i = 0; i < 4; i++)
        await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    }),
  );
  assert.equal(up.received.length, N);
  await p.line(() => requestLines(p).length === N);
  const byWorker = new Map<number, number>();
  for (const l of requestLines(p)) byWorker.set(l.worker!, (byWorker.get(l.worker!) ?? 0) + 1);
  assert.deepEqual([...byWorker.keys()].sort(), [1, 2], `both workers served: ${JSON.stringify([...byWorker])}`);

  // Whichever worker answers, the counters are the sum over both.
  for (let i = 0; i < 4; i++) {
    const m = await fresh(`${p.url}/metrics`);
    assert.equal(m.status, 200);
    assert.equal(total(m.text, 'claude_meter_requests_total'), N, `scrape ${i}`);
    assert.equal(total(m.text, 'claude_meter_tokens_total'), N * 1100);
    assert.equal(total(m.text, 'claude_meter_store_up'), 1, 'store_up: min over workers, one sample');
    assert.equal(total(m.text, 'claude_meter_request_duration_seconds_count'), N);
  }

  // Budgets are shared through Redis: the global instance holds every request's cost, exactly.
  const usage = JSON.parse((await fresh(`${p.url}/_meter/usage?window=day&by=all`)).text) as {
    total: { cost_pico_usd: string; requests: number };
  };
  assert.equal(usage.total.requests, N);
  // Spend admitted from a worker's lease reaches Redis with its next sync (within about a second).
  const spent = async () => {
    const b = JSON.parse((await fresh(`${p.url}/_meter/budgets`)).text) as { budgets: Array<{ budget: string; spent_usd: number }> };
    return b.budgets.find((x) => x.budget === 'org')?.spent_usd;
  };
  await waitFor(
    'every worker’s leased spend synced',
    async () => (await spent()) === Number(BigInt(usage.total.cost_pico_usd)) / 1e12,
    5_000,
  );
  for (let i = 0; i < 2; i++) {
    assert.equal(await spent(), Number(BigInt(usage.total.cost_pico_usd)) / 1e12, 'spent = the sum of recorded costs');
    assert.equal(BigInt(usage.total.cost_pico_usd), BigInt(N) * 4_500_000_000n, '$3/MTok in, $15/MTok out: $0.0045 each');
  }
  // The forecast loop runs in worker 1 only, and worker 2 answers with its results.
  assert.deepEqual(
    serving.map((l) => l['forecast_loop']),
    [true, false],
  );
  const forecasts = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const f = JSON.parse((await fresh(`${p.url}/_meter/forecast`)).text) as { forecasts: Array<{ budget: string; fitted_at: string }> };
    assert.deepEqual(
      f.forecasts.map((x) => x.budget),
      ['org'],
    );
    forecasts.add(f.forecasts[0]!.fitted_at);
  }
  assert.equal(forecasts.size, 1, 'one fit, whichever worker answers');

  const { code, ms } = await p.stop();
  assert.equal(code, 0);
  assert.ok(ms < 5_000, `exited ${Math.round(ms)} ms after SIGTERM`);
  assert.equal(p.lines.filter((l) => l.msg.startsWith('shutting down: closing idle')).length, 2, 'each worker drained');
  assert.deepEqual(p.torn, [], 'every stdout line is one whole JSON line');
  assert.equal(p.stderr(), '');
});

test('SIGHUP to the primary reloads the config in every worker, once each', async (t) => {
  const up = await startMockAnthropic(t);
  const redis = await startRedis({ t });
  const p = await startWorkers(t, { yaml: BUDGET, env: { UPSTREAM_URL: up.url, REDIS_URL: redis.url } });
  writeFileSync(p.file, `listen:\n  host: 127.0.0.1\nbudgets:\n  - name: org\n    limit_usd: 250\n`);
  // The file watcher of each worker may see the write first; SIGHUP reloads a config unchanged since then as nothing.
  p.child.kill('SIGHUP');
  await p.line((l) => l.msg === 'config reloaded' && l.worker === 1);
  await p.line((l) => l.msg === 'config reloaded' && l.worker === 2);
  for (let i = 0; i < 4; i++) {
    const b = JSON.parse((await fresh(`${p.url}/_meter/budgets`)).text) as { budgets: Array<{ limit_usd: number }> };
    assert.equal(b.budgets[0]?.limit_usd, 250, 'whichever worker answers has the new limit');
  }
  const { code } = await p.stop('SIGINT');
  assert.equal(code, 0);
  assert.equal(p.lines.filter((l) => l.msg === 'config reloaded').length, 2, 'one reload per worker');
  assert.deepEqual(p.torn, []);
});

test('more than one worker on the embedded store: refused with one line, exit 2; --workers 1 is the one-process path', async (t) => {
  const bin = resolve('bin/claude-meter.js');
  const env = { ...process.env, CLAUDE_METER_CONFIG: '', CLAUDE_METER_WORKERS: '', REDIS_URL: '', PORT: '0' };
  const r = spawnSync(process.execPath, [bin, 'start', '--workers', '2'], { env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^claude-meter: refusing to start: 2 workers need Redis .*\n$/);
  const bad = spawnSync(process.execPath, [bin, 'start', '--workers', 'many'], { env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--workers must be a number from 1 to 256 or auto, got 'many'/);

  const one = await startWorkers(t, { args: ['--workers', '1'] });
  assert.equal(one.lines[0]?.['workers'], undefined, 'no cluster: the single-process start line');
  assert.equal(one.lines[0]?.['store'], 'memory');
  assert.equal((await one.stop()).code, 0);
});
