/** `claude-meter forecast` and GET /_meter/forecast read the same projections from a running deployment's Redis. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { budget } from '../helpers/budget-config.ts';
import { runForecastCommand } from '../../src/commands/forecast.ts';

function capture() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  return { stream: s, text: () => text };
}

test('forecast command and /_meter/forecast show every budget projection', async (t) => {
  const redis = await startRedis({ t });
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 1000 } }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: {
      store: { redis: { url: redis.url, cluster_nodes: [], key_prefix: 'fc' } },
      budgets: [
        budget({ name: 'monthly', limit_usd: 100, window: 'month' }),
        budget({ name: 'yuan', limit: 1000, currency: 'CNY', window: 'month' }),
      ],
      exchange_rates: { USD_CNY: 7.1 },
    },
  });
  for (let i = 0; i < 5; i++) {
    await fetch(`${url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [] }),
    }).then((r) => r.arrayBuffer());
  }
  await app.flush();
  await app.forecasts.update(Date.now());
  const body = (await (await fetch(`${url}/_meter/forecast`)).json()) as {
    forecasts: { budget: string; spent_usd: number; projected_usd: { p50: number }; cold_start: boolean }[];
  };
  assert.equal(body.forecasts[0]?.budget, 'monthly');
  assert.equal(body.forecasts[0]?.spent_usd, 0.03);
  assert.ok((body.forecasts[0]?.projected_usd.p50 ?? 0) >= 0.03);
  assert.equal(body.forecasts[0]?.cold_start, true, 'minutes of history: says so');
  // The yuan budget: its projection in yuan, its currency named, no dollar fields.
  const yuan = body.forecasts[1] as unknown as Record<string, unknown> & { spent: number; projected: { p50: number } };
  assert.equal(yuan['budget'], 'yuan');
  assert.equal(yuan['currency'], 'CNY');
  assert.deepEqual([yuan['spent_usd'], yuan['projected_usd'], yuan['limit_usd'], yuan['pacing_usd_per_hour']], [null, null, null, null]);
  assert.ok(yuan.spent > 0 && yuan.projected.p50 >= yuan.spent);

  const dir = mkdtempSync(join(tmpdir(), 'cm-fc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    `store:\n  redis:\n    url: ${redis.url}\n    key_prefix: fc\nexchange_rates:\n  USD_CNY: 7.1\nbudgets:\n  - name: monthly\n    window: month\n    limit_usd: 100\n` +
      '  - name: yuan\n    window: month\n    limit: 1000\n    currency: CNY\n',
  );
  const out = capture();
  const err = capture();
  const code = await runForecastCommand(['--config', file], { stdout: out.stream, stderr: err.stream }, {});
  assert.equal(code, 0, err.text());
  assert.match(out.text(), /^budget\s+instance\s+window/m);
  assert.match(out.text(), /monthly\s+\*\s+\d{4}-\d\d\s+\$100\.00\s+\$0\.03/);
  assert.match(out.text(), /cold start/);
  // In yuan; the limit column is the catalog's limit (a dash while the ledger counts none).
  const yuanLine =
    out
      .text()
      .split('\n')
      .find((l) => l.startsWith('yuan ')) ?? '';
  assert.match(yuanLine, /^yuan\s+\*\s+\d{4}-\d\d\s+(¥1000\.00|—)\s+¥\d+\.\d\d\s+¥/);
  assert.doesNotMatch(yuanLine, /\$/);

  const json = capture();
  assert.equal(await runForecastCommand(['--config', file, '--json'], { stdout: json.stream, stderr: err.stream }, {}), 0);
  assert.equal((JSON.parse(json.text()) as { forecasts: unknown[] }).forecasts.length, 2);

  const none = capture();
  writeFileSync(join(dir, 'embedded.yaml'), 'budgets: []\n');
  assert.equal(
    await runForecastCommand(['--config', join(dir, 'embedded.yaml')], { stdout: none.stream, stderr: none.stream }, {}),
    2,
    'no Redis: nothing to read',
  );
});
