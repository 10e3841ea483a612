/** recordMetrics(): what one settled request adds to the per-request series. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { modelLabel, recordMetrics } from '../../../src/metrics/record.ts';
import { rec } from '../../contract/fixtures.ts';

test('a disabled label does not split the table: tag label only, a thousand API keys make one series per tag', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: true, defaultMetrics: false });
  for (let i = 0; i < 1000; i++) {
    recordMetrics(
      metrics,
      rec({
        model: 'm',
        status: 200,
        latencyMs: 1,
        ttftMs: null,
        usage: null,
        usageMissing: 'unparseable_body',
        costPicoUsd: 0,
        keyId: `key-${i}`,
        tag: i % 2 ? 'web' : '',
      }),
      'm',
    );
  }
  assert.equal(metrics.series.of('default', 'm').requests.size, 2);
  const text = await metrics.registry.getSingleMetricAsString('claude_meter_requests_total');
  assert.match(text, /^claude_meter_requests_total\{model="m",upstream="default",status="200",tag="web"\} 500$/m);
  assert.match(text, /^claude_meter_requests_total\{model="m",upstream="default",status="200",tag="untagged"\} 500$/m);
});

/** Every label value and series a scrape exports for the per-request families, and the folds counted. */
async function scrape(
  metrics: ReturnType<typeof createMetrics>,
): Promise<{ values: Record<string, Set<string>>; series: number; folds: string }> {
  const text = await metrics.registry.metrics();
  const values: Record<string, Set<string>> = { model: new Set(), key_id: new Set(), tag: new Set() };
  let series = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    series++;
    for (const [, name, value] of line.matchAll(/(model|key_id|tag)="([^"]*)"/g)) values[name as string]?.add(value as string);
  }
  return { values, series, folds: await metrics.registry.getSingleMetricAsString('claude_meter_label_overflow_total') };
}

test('past max_label_values new models, keys and tags fold into `other`, counted by label; placed values keep counting', async () => {
  const metrics = createMetrics({ keyLabel: true, tagLabel: true, defaultMetrics: false, maxLabelValues: 4 });
  const send = (i: number) => {
    const r = rec({ model: `model-${i}`, status: 200, keyId: `key-${i}`, tag: `tag-${i}`, latencyMs: 1, ttftMs: null });
    recordMetrics(metrics, r, modelLabel(metrics, r.model, r.status));
  };
  for (let i = 0; i < 100; i++) send(i);
  send(0);
  const { values, folds } = await scrape(metrics);
  // Each label holds its fixed value (unknown, anon, untagged) and the first three seen, then `other`.
  assert.deepEqual([...values['model']!].sort(), ['model-0', 'model-1', 'model-2', 'other']);
  assert.deepEqual([...values['key_id']!].sort(), ['key-0', 'key-1', 'key-2', 'other']);
  assert.deepEqual([...values['tag']!].sort(), ['other', 'tag-0', 'tag-1', 'tag-2']);
  for (const label of ['model', 'key_id', 'tag'])
    assert.match(folds, new RegExp(`^claude_meter_label_overflow_total\\{label="${label}"\\} 97$`, 'm'));
  const text = await metrics.registry.getSingleMetricAsString('claude_meter_requests_total');
  assert.match(text, /^claude_meter_requests_total\{model="model-0",upstream="default",status="200",key_id="key-0",tag="tag-0"\} 2$/m);
  assert.match(text, /^claude_meter_requests_total\{model="other",upstream="default",status="200",key_id="other",tag="other"\} 97$/m);
});

test('a value first seen on a request refused as bad (4xx) takes no place: `other` until another request brings it; 429 and 5xx place theirs', async () => {
  const metrics = createMetrics({ keyLabel: true, tagLabel: true, defaultMetrics: false, maxLabelValues: 100 });
  const send = (i: number, status: number) => {
    const r = rec({ model: `made-up-${i}`, status, keyId: `bad-${i}`, tag: `t-${i}`, latencyMs: 1, ttftMs: null });
    recordMetrics(metrics, r, modelLabel(metrics, r.model, r.status));
  };
  send(0, 404);
  send(1, 401);
  const two = await scrape(metrics);
  for (let i = 2; i < 1_000; i++) send(i, i % 2 ? 401 : 404);
  const before = await scrape(metrics);
  assert.equal(before.series, two.series, 'no series after the first two');
  assert.deepEqual([...before.values['model']!], ['other']);
  assert.deepEqual([...before.values['key_id']!], ['other']);
  assert.deepEqual([...before.values['tag']!], ['other']);
  assert.equal(metrics.labels.keyId.size, 1, 'only `anon`: a thousand refused keys took no place');
  send(7, 200);
  send(7, 401);
  const text = await metrics.registry.getSingleMetricAsString('claude_meter_requests_total');
  assert.match(
    text,
    /^claude_meter_requests_total\{model="made-up-7",upstream="default",status="401",key_id="bad-7",tag="t-7"\} 1$/m,
    'placed: its errors count under it',
  );
  send(2_000, 429);
  send(2_001, 503);
  const last = await metrics.registry.getSingleMetricAsString('claude_meter_requests_total');
  assert.match(
    last,
    /^claude_meter_requests_total\{model="made-up-2000",upstream="default",status="429",key_id="bad-2000",tag="t-2000"\} 1$/m,
  );
  assert.match(
    last,
    /^claude_meter_requests_total\{model="made-up-2001",upstream="default",status="503",key_id="bad-2001",tag="t-2001"\} 1$/m,
  );
});

test('claude_meter_billed_cost_total: what each upstream billed, in units of its currency, summed exactly; cost_usd_total stays the list price', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  // Amounts whose float sum drifts: the export is the nearest double of the exact total.
  const amounts = [Number.MAX_SAFE_INTEGER, 1, 1, 1, 123_456_789_012];
  for (const [i, billedPico] of amounts.entries()) {
    recordMetrics(
      metrics,
      rec({ id: `cny-${i}`, model: 'm', upstream: 'holysheep', costPicoUsd: 1_000_000, currency: 'CNY', billedPico }),
      'm',
    );
  }
  recordMetrics(metrics, rec({ model: 'm', costPicoUsd: 2_000_000_000_000 }), 'm');
  // Nothing billed: no usage, or no known billed price.
  recordMetrics(metrics, rec({ model: 'm', upstream: 'holysheep', currency: 'CNY', usage: null, costPicoUsd: 0, billedPico: 0 }), 'm');
  recordMetrics(
    metrics,
    rec({ model: 'm', upstream: 'holysheep', costPicoUsd: 1_000_000, currency: 'CNY', billedPico: 0, billedUnpriced: true }),
    'm',
  );
  const exact = amounts.reduce((s, n) => s + BigInt(n), 0n);
  const text = await metrics.registry.metrics();
  const billed = text.split('\n').filter((l) => l.startsWith('claude_meter_billed_cost_total{'));
  assert.deepEqual(billed, [
    `claude_meter_billed_cost_total{model="m",upstream="holysheep",currency="CNY"} ${Number(exact) / 1e12}`,
    'claude_meter_billed_cost_total{model="m",upstream="default",currency="USD"} 2',
  ]);
  assert.match(text, /^claude_meter_cost_usd_total\{model="m"\} 2\.000006$/m, 'list USD of every upstream, as before');
  assert.match(text, /^claude_meter_billed_unpriced_requests_total\{model="m",upstream="holysheep"\} 1$/m);
  assert.match(text, /^claude_meter_requests_total\{model="m",upstream="holysheep",status="200"\} 7$/m);
  assert.match(text, /^claude_meter_request_duration_seconds_count\{model="m",upstream="holysheep"\} 7$/m);
  assert.match(text, /^claude_meter_tokens_total\{model="m",upstream="default",kind="input"\} 10$/m);
});

test('claude_meter_usage_adjusted_total counts clamped usage by upstream and reason', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  for (let i = 0; i < 3; i++) recordMetrics(metrics, rec({ upstream: 'relay', usageAdjusted: 'cached_above_prompt' }), 'm');
  recordMetrics(metrics, rec({ upstream: 'relay' }), 'm');
  const text = await metrics.registry.getSingleMetricAsString('claude_meter_usage_adjusted_total');
  assert.deepEqual(
    text.split('\n').filter((l) => !l.startsWith('#')),
    ['claude_meter_usage_adjusted_total{upstream="relay",reason="cached_above_prompt"} 3'],
  );
});

test('the upstream label is capped like the others: names past max_label_values fold into `other`, counted', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false, maxLabelValues: 3 });
  for (let i = 0; i < 5; i++) recordMetrics(metrics, rec({ model: 'm', upstream: `up-${i}` }), 'm');
  const text = await metrics.registry.metrics();
  const upstreams = new Set([...text.matchAll(/claude_meter_requests_total\{[^}]*upstream="([^"]*)"/g)].map((m) => m[1]));
  // `default` holds a place from the start.
  assert.deepEqual([...upstreams].sort(), ['other', 'up-0', 'up-1']);
  assert.match(text, /^claude_meter_label_overflow_total\{label="upstream"\} 3$/m);
});
