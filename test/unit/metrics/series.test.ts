/**
 * The per-request metrics are counted in plain numbers (src/metrics/series.ts) and exported
 * at scrape time. Their exposition must be byte-identical to what prom-client's own Counter
 * and Histogram print for the same requests, in text and in JSON form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Registry } from 'prom-client';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { recordMetrics } from '../../../src/metrics/record.ts';
import type { RequestRecord } from '../../../src/store/types.ts';
import { PER_REQUEST, promClientReference } from '../../helpers/prom-client-reference.ts';

function record(p: {
  model: string;
  status: number;
  latencyMs: number;
  ttftMs: number | null;
  input: number;
  output: number;
  cw: number;
  cw1h: number;
  cr: number;
  keyId: string;
  tag: string;
  usage: boolean;
  upstream?: string;
}): RequestRecord {
  return {
    id: 'x',
    ts: 0,
    method: 'POST',
    path: '/v1/messages',
    model: p.model,
    keyId: p.keyId,
    tag: p.tag,
    status: p.status,
    stream: false,
    usage: p.usage
      ? { input: p.input, output: p.output, cacheCreation: p.cw + p.cw1h, cacheCreation1h: p.cw1h, cacheRead: p.cr, webSearchRequests: 0 }
      : null,
    usageMissing: p.usage ? null : 'unparseable_body',
    partial: false,
    upstream: p.upstream ?? 'default',
    costPicoUsd: 0,
    unpriced: false,
    currency: 'USD',
    billedPico: 0,
    billedUnpriced: false,
    usageAdjusted: null,
    free: false,
    latencyMs: p.latencyMs,
    ttftMs: p.ttftMs,
    upstreamLatencyMs: null,
    errorType: null,
    messageId: null,
  } as RequestRecord;
}

/**
 * Key and tag values as the capped labels export them (src/metrics/labels.ts), far below the cap:
 * a value first seen on a request refused as bad (4xx but 429) counts under `other` until
 * another request gives the value a place.
 */
function asExported(records: RequestRecord[]): RequestRecord[] {
  const keys = new Set(['anon']);
  const tags = new Set(['untagged']);
  const place = (seen: Set<string>, v: string, claim: boolean): string => (seen.has(v) || (claim && seen.add(v)) ? v : 'other');
  const claim = (status: number): boolean => status < 400 || status === 429 || status >= 500;
  return records.map((r) => ({
    ...r,
    keyId: place(keys, r.keyId, claim(r.status)),
    tag: place(tags, r.tag || 'untagged', claim(r.status)),
  }));
}

/** What the same requests look like through prom-client's own classes (the code this replaced). */
function reference(records: RequestRecord[], keyLabel: boolean, tagLabel: boolean): Registry {
  const ref = promClientReference({ keyLabel, tagLabel });
  for (const r of asExported(records)) ref.record(r);
  return ref.registry;
}

/**
 * The exposition of the four families. Series may come in another order (prom-client lists
 * them in first-touch order, we by model): that means nothing to Prometheus, so lines are
 * stably sorted by their labels without `le`, which keeps each histogram's bucket, sum and
 * count lines in their exact order.
 */
async function perRequestText(registry: Registry): Promise<string> {
  const parts: string[] = [];
  for (const name of PER_REQUEST) {
    const [help, type, ...lines] = (await registry.getSingleMetricAsString(name)).split('\n');
    const seriesOf = (line: string) => (/\{(.*)\}/.exec(line)?.[1] ?? '').replace(/le="[^"]*",?/, '');
    lines.sort((a, b) => (seriesOf(a) < seriesOf(b) ? -1 : seriesOf(a) > seriesOf(b) ? 1 : 0));
    parts.push([help, type, ...lines].join('\n'));
  }
  return parts.join('\n');
}

async function perRequestJson(registry: Registry): Promise<unknown> {
  const all = await registry.getMetricsAsJSON();
  // Through JSON, as a client of getMetricsAsJSON sees it (an undefined exemplar is no key);
  // values in a canonical order, as in perRequestText.
  const families = JSON.parse(JSON.stringify(all.filter((m) => PER_REQUEST.includes(m.name)))) as Array<{
    values: Array<{ labels: Record<string, unknown> }>;
  }>;
  const seriesOf = (v: { labels: Record<string, unknown> }) =>
    JSON.stringify(
      Object.entries(v.labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const f of families) f.values.sort((a, b) => (seriesOf(a) < seriesOf(b) ? -1 : seriesOf(a) > seriesOf(b) ? 1 : 0));
  return families;
}

const requestArb = fc.record({
  model: fc.constantFrom('claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1'),
  status: fc.constantFrom(200, 400, 429, 529),
  // Exactly on bucket bounds as well as between them: `le` means less than or equal.
  latencyMs: fc.oneof(
    fc.constantFrom(5, 10, 100, 600_000, 700_000),
    fc.integer({ min: 0, max: 2_000_000 }).map((n) => n / 1000),
  ),
  ttftMs: fc.option(
    fc.oneof(
      fc.constantFrom(1, 25, 60_000, 90_000),
      fc.integer({ min: 0, max: 100_000 }).map((n) => n / 100),
    ),
    { nil: null },
  ),
  input: fc.nat(100_000),
  output: fc.nat(10_000),
  cw: fc.nat(5_000),
  cw1h: fc.nat(5_000),
  cr: fc.nat(50_000),
  keyId: fc.constantFrom('0123456789abcdef', 'fedcba9876543210'),
  tag: fc.constantFrom('', 'batch', 'web'),
  usage: fc.boolean(),
  upstream: fc.constantFrom('default', 'holysheep'),
});

test('per-request metrics print exactly as prom-client Counter/Histogram would, text and JSON', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(requestArb, { maxLength: 60 }), fc.boolean(), fc.boolean(), async (reqs, keyLabel, tagLabel) => {
      const records = reqs.map(record);
      const metrics = createMetrics({ keyLabel, tagLabel, defaultMetrics: false });
      for (const r of records) recordMetrics(metrics, r, r.model ?? 'unknown');
      const expected = reference(records, keyLabel, tagLabel);
      assert.equal(await perRequestText(metrics.registry), await perRequestText(expected));
      assert.deepEqual(await perRequestJson(metrics.registry), await perRequestJson(expected));
    }),
    { numRuns: 150 },
  );
});

test('a scrape does not change the counts: two scrapes print the same, and later requests add on', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  const r = record({
    model: 'm',
    status: 200,
    latencyMs: 12,
    ttftMs: 3,
    input: 10,
    output: 5,
    cw: 0,
    cw1h: 0,
    cr: 0,
    keyId: 'k',
    tag: '',
    usage: true,
  });
  recordMetrics(metrics, r, 'm');
  const first = await metrics.registry.metrics();
  assert.equal(await metrics.registry.metrics(), first);
  assert.match(first, /^claude_meter_requests_total\{model="m",upstream="default",status="200"\} 1$/m);
  recordMetrics(metrics, r, 'm');
  const second = await metrics.registry.metrics();
  assert.match(second, /^claude_meter_requests_total\{model="m",upstream="default",status="200"\} 2$/m);
  assert.match(second, /^claude_meter_tokens_total\{model="m",upstream="default",kind="input"\} 20$/m);
  assert.match(second, /^claude_meter_request_duration_seconds_bucket\{le="0.025",model="m",upstream="default"\} 2$/m);
  assert.match(second, /^claude_meter_request_duration_seconds_count\{model="m",upstream="default"\} 2$/m);
});

test('Registry.resetMetrics() resets the per-request families too', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: false, defaultMetrics: false });
  recordMetrics(
    metrics,
    record({
      model: 'm',
      status: 200,
      latencyMs: 12,
      ttftMs: 3,
      input: 10,
      output: 5,
      cw: 0,
      cw1h: 0,
      cr: 0,
      keyId: 'k',
      tag: '',
      usage: true,
    }),
    'm',
  );
  metrics.registry.resetMetrics();
  const text = await metrics.registry.metrics();
  assert.doesNotMatch(text, /^claude_meter_(requests_total|tokens_total|request_duration_seconds_count)\{/m);
});
