/**
 * Message Batches through the proxy with the official SDK as the client (docs/batches.md):
 * results_url rewritten so the SDK's download comes through the proxy (relative, under a route
 * prefix, or under public_url), results metered at batch prices once per batch and custom_id
 * (downloaded twice, cut and retried), recorded for the creating key and tag at the batch's end.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockBatches, type MockResult } from '../helpers/mock-batches.ts';
import { routed, startProxy } from '../helpers/start-proxy.ts';
import type { RequestRecord } from '../../src/store/types.ts';
import type { App } from '../../src/app.ts';
import { ManualClock } from '../../src/lib/manual-clock.ts';
import { budget } from '../helpers/budget-config.ts';

const SONNET = 'claude-sonnet-4-5'; // $3 in / $15 out per MTok; batch: half
const ENDED = Date.parse('2026-12-06T23:30:00Z');

function sdk(baseURL: string, opts: { key?: string; tag?: string } = {}): Anthropic {
  return new Anthropic({
    apiKey: opts.key ?? 'sk-ant-api03-creator-key-0000',
    baseURL,
    maxRetries: 0,
    ...(opts.tag ? { defaultHeaders: { 'x-meter-tag': opts.tag } } : {}),
  });
}

function requests(n: number, model = SONNET) {
  return Array.from({ length: n }, (_, i) => ({
    custom_id: `req-${i}`,
    params: { model, max_tokens: 256, messages: [{ role: 'user' as const, content: `question ${i}` }] },
  }));
}

/** All four result types; succeeded ones with distinct usage so a double count or a lost line shows in the sums. */
function results(n: number): Record<string, MockResult> {
  const out: Record<string, MockResult> = {};
  for (let i = 0; i < n; i++) {
    const kind = i % 5;
    out[`req-${i}`] =
      kind === 1
        ? { type: 'errored' }
        : kind === 2
          ? { type: 'canceled' }
          : kind === 3
            ? { type: 'expired' }
            : { type: 'succeeded', usage: { input_tokens: 1000 + i, output_tokens: 100 + i, cache_read_input_tokens: 10 * i } };
  }
  return out;
}

/** What the succeeded lines cost at batch prices, in pico-USD: half of list, cache reads at 0.1 × input, rounded once per line. */
function batchCost(r: Record<string, MockResult>): bigint {
  let sum = 0n;
  for (const v of Object.values(r)) {
    if (v.type !== 'succeeded') continue;
    const u = v.usage;
    // Sonnet 4.5: input $3, output $15, cache read $0.30 per MTok = 3e6, 15e6, 0.3e6 pico per token.
    const list = u.input_tokens * 3_000_000 + u.output_tokens * 15_000_000 + (u.cache_read_input_tokens ?? 0) * 300_000;
    sum += BigInt(Math.round(list / 2));
  }
  return sum;
}

async function batchRecords(app: App): Promise<RequestRecord[]> {
  await app.flush();
  return (await app.store.recent(10_000)).filter((r) => r.id.startsWith('batch_'));
}

async function createAndEnd(c: Anthropic, mock: Awaited<ReturnType<typeof startMockBatches>>, n: number, endedAt = ENDED) {
  const created = await c.messages.batches.create({ requests: requests(n) });
  const r = results(n);
  mock.end(created.id, r, endedAt);
  return { id: created.id, results: r };
}

async function download(c: Anthropic, id: string): Promise<number> {
  let lines = 0;
  for await (const _ of await c.messages.batches.results(id)) lines++;
  return lines;
}

test('results_url comes back relative, and the SDK downloads the results through the proxy, metered at batch prices for the creator', async (t) => {
  const mock = await startMockBatches(t);
  const { app, url } = await startProxy(t, { upstream: mock.url });
  const creator = sdk(url, { tag: 'nightly' });
  const { id, results: r } = await createAndEnd(creator, mock, 25);

  const batch = await creator.messages.batches.retrieve(id);
  assert.equal(batch.results_url, `/v1/messages/batches/${id}/results`, 'rewritten relative to the client base URL');
  const listed = await creator.messages.batches.list();
  assert.equal(listed.data[0]?.results_url, `/v1/messages/batches/${id}/results`, 'list entries too');

  // Another key and tag download: the records still belong to the creator.
  const downloader = sdk(url, { key: 'sk-ant-api03-downloader-9999', tag: 'ops' });
  assert.equal(await download(downloader, id), 25, 'every line reaches the client');
  assert.equal(mock.downloads(id), 1);

  const recs = await batchRecords(app);
  assert.equal(recs.length, 10, 'one record per succeeded line (2 of every 5)');
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /claude_meter_batch_result_lines_total\{outcome="recorded"\} 10/);
  assert.match(metrics, /claude_meter_batch_result_lines_total\{outcome="free"\} 15/);
  const creatorKey = (await app.store.recent(10_000)).find(
    (x) => x.path === '/v1/messages/batches' && x.method === 'POST' && !x.id.startsWith('batch_'),
  )?.keyId;
  assert.ok(creatorKey);
  for (const rec of recs) {
    assert.equal(rec.ts, ENDED, 'dated at the batch end');
    assert.equal(rec.keyId, creatorKey, 'the creating key');
    assert.equal(rec.tag, 'nightly', 'the creating tag');
    assert.equal(rec.usage?.serviceTier, 'batch');
    assert.match(rec.model ?? '', /^claude-sonnet-4-5/, 'the canonical id');
  }
  const total = recs.reduce((s, x) => s + BigInt(x.costPicoUsd), 0n);
  assert.equal(total, batchCost(r), 'succeeded lines at half of list, cache reads at their own rate; the rest free');
});

test('downloaded twice, and cut mid-way then retried: each custom_id counts once', async (t) => {
  const mock = await startMockBatches(t);
  const { app, url } = await startProxy(t, { upstream: mock.url });
  const c = sdk(url);
  const { id, results: r } = await createAndEnd(c, mock, 40);
  mock.cutNext(id, 2_000);
  await assert.rejects(download(c, id), 'the cut download fails at the client');
  const afterCut = (await batchRecords(app)).length;
  assert.ok(afterCut > 0 && afterCut < 16, `some lines were metered before the cut (${afterCut})`);
  assert.equal(await download(c, id), 40);
  assert.equal(await download(c, id), 40);
  const recs = await batchRecords(app);
  assert.equal(recs.length, 16, 'each succeeded custom_id once');
  await app.flush();
  assert.match(await (await fetch(`${url}/metrics`)).text(), /claude_meter_batch_result_lines_total\{outcome="counted_before"\} \d+/);
  assert.equal(new Set(recs.map((x) => x.id)).size, 16);
  assert.equal(
    recs.reduce((s, x) => s + BigInt(x.costPicoUsd), 0n),
    batchCost(r),
  );
});

test('behind a route prefix, and with public_url: the rewritten results_url still reaches the same upstream through the proxy', async (t: TestContext) => {
  const mock = await startMockBatches(t, { prefix: '/relay' });
  const { app, url } = await startProxy(t, {
    upstream: 'http://127.0.0.1:9', // the default upstream is never used here
    config: { upstreams: [routed({ name: 'relay', route: '/anthropic', url: mock.url, api: 'anthropic' })] },
  });
  const c = sdk(`${url}/anthropic`);
  const { id } = await createAndEnd(c, mock, 5);
  const b = await c.messages.batches.retrieve(id);
  assert.equal(b.results_url, `/v1/messages/batches/${id}/results`, "the relay's own path prefix is taken off");
  assert.equal(await download(c, id), 5);
  assert.equal((await batchRecords(app)).length, 2);
  assert.ok(mock.received.some((x) => x.url === `/relay/v1/messages/batches/${id}/results`));

  const pub = await startProxy(t, {
    upstream: 'http://127.0.0.1:9',
    config: {
      batches: { public_url: 'https://meter.example.com/' },
      upstreams: [routed({ name: 'relay', route: '/anthropic', url: mock.url, api: 'anthropic' })],
    },
  });
  const b2 = await sdk(`${pub.url}/anthropic`).messages.batches.retrieve(id);
  assert.equal(b2.results_url, `https://meter.example.com/anthropic/v1/messages/batches/${id}/results`);
});

test('budgets: a batch whose estimate does not fit is refused with a 429 before it reaches the upstream; one that fits holds its estimate until its results are read', async (t) => {
  const mock = await startMockBatches(t);
  const { app, url } = await startProxy(t, {
    upstream: mock.url,
    forecasting: false,
    config: { budgets: [budget({ name: 'daily', limit_usd: 0.05, window: 'day' })] },
  });
  const c = sdk(url);
  // 1,000 requests × up to 4,096 output tokens at Sonnet's batch $7.50/MTok: far past $0.05.
  const big = requests(1_000).map((r) => ({ ...r, params: { ...r.params, max_tokens: 4_096 } }));
  const err = await c.messages.batches.create({ requests: big }).catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, String(err));
  assert.match(err.message, /budget 'daily'/);
  assert.equal(mock.received.filter((x) => x.method === 'POST').length, 0, 'never forwarded');

  // Ended now: the lines count in the window the batch ended in, today's.
  const { id, results: r } = await createAndEnd(c, mock, 10, Date.now());
  const row = async () =>
    (
      await app.gate.ledger.state(
        [
          app.gate.catalog.refsFor({ keyId: 'x', tag: '', model: SONNET, path: '/v1/messages/batches', upstream: 'default' }, Date.now())
            .refs[0]!,
        ],
        Date.now(),
      )
    )[0]!;
  const before = await row();
  assert.ok(before.reservedPico > 0, 'held while the batch runs');
  assert.equal(before.spentPico, 0);
  assert.equal(await download(c, id), 10);
  await app.flush();
  const after = await row();
  assert.equal(after.reservedPico, 0, 'released once the results were read whole');
  assert.match(await (await fetch(`${url}/metrics`)).text(), /claude_meter_batch_holds_total\{outcome="released"\} 1/);
  assert.equal(BigInt(after.spentPico), batchCost(r), 'the lines counted their own spend at batch prices');
});

test('a batch whose results are never read through the proxy: at its expiry the hold becomes spend at its estimate, recorded as batch_results_unseen', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'));
  const mock = await startMockBatches(t, { now: () => clock.now() });
  const { app, url } = await startProxy(t, {
    upstream: mock.url,
    clock,
    forecasting: false,
    config: { budgets: [budget({ name: 'weekly', limit_usd: 50, window: 'week' })] },
  });
  const c = sdk(url, { tag: 'etl' });
  await c.messages.batches.create({ requests: requests(20) });
  const ref = app.gate.catalog.refsFor(
    { keyId: 'x', tag: '', model: SONNET, path: '/v1/messages/batches', upstream: 'default' },
    clock.now(),
  ).refs[0]!;
  const held = (await app.gate.ledger.state([ref], clock.now()))[0]!.reservedPico;
  assert.ok(held > 0);
  assert.equal(await app.holdSweeper.sweep(), 0, 'not due before the batch expires');
  // The sweeper's own timer runs as the clock passes the batch's expiry.
  await clock.advance(24 * 3_600_000 + 60_000);
  await app.holdSweeper.sweep();
  await clock.advance(3_600_000);
  assert.equal(await app.holdSweeper.sweep(), 0, 'once');
  await app.flush();
  const st = (await app.gate.ledger.state([ref], clock.now()))[0]!;
  assert.equal(st.spentPico, held, 'spent at its estimate');
  assert.equal(st.reservedPico, 0);
  const unseen = (await app.store.recent(100)).filter((x) => x.usageMissing === 'batch_results_unseen');
  assert.equal(unseen.length, 1);
  assert.equal(unseen[0]?.tag, 'etl');
});

test('the poller downloads, with its own key, the results of a batch nobody downloaded through the proxy', async (t) => {
  const mock = await startMockBatches(t);
  const { app, url } = await startProxy(t, {
    upstream: mock.url,
    forecasting: false,
    config: { batches: { poller: { api_key: 'sk-ant-api03-poller-key', interval_ms: 60_000 } } },
  });
  const { id, results: r } = await createAndEnd(sdk(url, { tag: 'nightly' }), mock, 15);
  assert.equal(await app.batchPoller.poll(), 1);
  await app.flush();
  const recs = await batchRecords(app);
  assert.equal(recs.length, 6);
  assert.ok(
    recs.every((x) => x.tag === 'nightly'),
    'for the creator',
  );
  assert.equal(
    recs.reduce((s, x) => s + BigInt(x.costPicoUsd), 0n),
    batchCost(r),
  );
  const polled = mock.received.filter((x) => x.url.endsWith(`${id}/results`));
  assert.equal(polled.length, 1);
  assert.equal(polled[0]?.headers['x-api-key'], 'sk-ant-api03-poller-key');
  assert.equal(await app.batchPoller.poll(), 0, 'a batch read whole is not polled again');
});
