/**
 * Message Batches under hostile clients and odd upstream answers (docs/batches.md): no way for a
 * batch to run unheld or uncounted. Each case was a defect an independent review found (and
 * each of these tests failed before its fix).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy } from '../helpers/start-proxy.ts';
import { startMockBatches } from '../helpers/mock-batches.ts';
import { budget } from '../helpers/budget-config.ts';
import { ManualClock } from '../../src/lib/manual-clock.ts';
import type { App } from '../../src/app.ts';

const SONNET = 'claude-sonnet-4-5';
const BATCH = 'msgbatch_review000001';

function requests(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    custom_id: `req-${i}`,
    params: { model: SONNET, max_tokens: 256, messages: [{ role: 'user' as const, content: `question ${i}` }] },
  }));
}

function batchObject(ended: boolean): Record<string, unknown> {
  const now = Date.now();
  return {
    id: BATCH,
    type: 'message_batch',
    processing_status: ended ? 'ended' : 'in_progress',
    request_counts: { processing: ended ? 0 : 10, succeeded: ended ? 10 : 0, errored: 0, canceled: 0, expired: 0 },
    ended_at: ended ? new Date(now).toISOString() : null,
    created_at: new Date(now).toISOString(),
    expires_at: new Date(now + 24 * 3_600_000).toISOString(),
    archived_at: null,
    cancel_initiated_at: null,
    results_url: ended ? `https://api.anthropic.com/v1/messages/batches/${BATCH}/results` : null,
  };
}

function line(i: number, usage: unknown): string {
  return JSON.stringify({
    custom_id: `req-${i}`,
    result: {
      type: 'succeeded',
      message: {
        id: `msg_${i}`,
        type: 'message',
        role: 'assistant',
        model: SONNET,
        content: [{ type: 'text', text: 'ok' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage,
      },
    },
  });
}

interface Upstream {
  url: string;
  /** Resolves when a create's body has fully arrived. */
  createArrived: Promise<void>;
  /** Resolves when the proxy closed the create's connection. */
  createClosed: Promise<void>;
}

/** A hand-made Anthropic upstream, with the one oddity a test needs. */
async function upstream(
  t: TestContext,
  opts: { create: 'hang' | 'gzip' | 'json'; results: string; honourRange?: boolean },
): Promise<Upstream> {
  let arrived!: () => void;
  let closed!: () => void;
  const createArrived = new Promise<void>((r) => (arrived = r));
  const createClosed = new Promise<void>((r) => (closed = r));
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'POST' && path === '/v1/messages/batches') {
        arrived();
        res.on('close', () => closed());
        if (opts.create === 'hang') return; // the batch exists upstream; its answer is slow
        const body = Buffer.from(JSON.stringify(batchObject(false)));
        if (opts.create === 'gzip') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          res.end(gzipSync(body));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
        return;
      }
      if (path === `/v1/messages/batches/${BATCH}`) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(batchObject(true)));
        return;
      }
      if (path === `/v1/messages/batches/${BATCH}/results`) {
        const all = Buffer.from(opts.results);
        const range = req.headers.range;
        if (opts.honourRange === true && range === 'bytes=-1') {
          res.writeHead(206, {
            'content-type': 'application/binary',
            'content-range': `bytes ${all.length - 1}-${all.length - 1}/${all.length}`,
          });
          res.end(all.subarray(all.length - 1));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/binary' });
        res.end(all);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"not_found_error","message":"no"}}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, createArrived, createClosed };
}

async function row(app: App, now = Date.now()) {
  const ref = app.gate.catalog.refsFor({ keyId: 'x', tag: '', model: SONNET, path: '/v1/messages/batches', upstream: 'default' }, now)
    .refs[0]!;
  await app.flush();
  return (await app.gate.ledger.state([ref], now))[0]!;
}

const BUDGETS = { budgets: [budget({ name: 'daily', limit_usd: 50, window: 'day' })] };
const KEY = 'sk-ant-api03-review-key-0000';

test('a client that leaves after its create reached the upstream does not take the hold with it: kept, and spent at its estimate at expiry', async (t) => {
  const up = await upstream(t, { create: 'hang', results: '' });
  const { app, url } = await startProxy(t, { upstream: up.url, forecasting: false, config: BUDGETS });
  const ac = new AbortController();
  const sent = fetch(`${url}/v1/messages/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ requests: requests(200) }),
    signal: ac.signal,
  }).catch(() => null);
  await up.createArrived; // the upstream has the whole body: the batch is created and will be billed
  assert.ok((await row(app)).reservedPico > 0, 'held while the create is forwarded');
  ac.abort();
  await sent;
  await up.createClosed;
  const st = await row(app);
  assert.ok(st.reservedPico > 0, `the batch's estimate must stay held (reserved ${st.reservedPico}, spent ${st.spentPico})`);
});

test('a 2xx create answer the proxy cannot read (compressed anyway) keeps the hold of the batch it may have created', async (t) => {
  const up = await upstream(t, { create: 'gzip', results: '' });
  const { app, url } = await startProxy(t, { upstream: up.url, forecasting: false, config: BUDGETS });
  const r = await fetch(`${url}/v1/messages/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ requests: requests(200) }),
  });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  const st = await row(app);
  assert.ok(st.reservedPico > 0, `a created batch keeps its hold (reserved ${st.reservedPico})`);
});

test('a ranged results download (206) never counts as read whole: the hold stays and later lines still count', async (t) => {
  const usage = { input_tokens: 1000, output_tokens: 100, service_tier: 'batch' };
  const results = `${Array.from({ length: 10 }, (_, i) => line(i, usage)).join('\n')}\n`;
  const up = await upstream(t, { create: 'json', results, honourRange: true });
  const { app, url } = await startProxy(t, { upstream: up.url, forecasting: false, config: BUDGETS });
  const c = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  await c.messages.batches.create({ requests: requests(10) });
  await c.messages.batches.retrieve(BATCH);
  assert.ok((await row(app)).reservedPico > 0);
  // The last byte only: a newline, zero lines, "read to its end".
  const ranged = await fetch(`${url}/v1/messages/batches/${BATCH}/results`, { headers: { 'x-api-key': KEY, range: 'bytes=-1' } });
  assert.equal(ranged.status, 206);
  await ranged.arrayBuffer();
  let n = 0;
  for await (const _ of await c.messages.batches.results(BATCH)) n++;
  assert.equal(n, 10);
  const st = await row(app);
  await app.flush();
  const recs = (await app.store.recent(1000)).filter((r) => r.id.startsWith(`batch_${BATCH}_`));
  assert.equal(
    recs.length,
    10,
    `every succeeded line recorded once (got ${recs.length}; spent ${st.spentPico}, reserved ${st.reservedPico})`,
  );
});

test('a succeeded line whose usage cannot be read counts its share of the estimate on the budget, never $0', async (t) => {
  const results = `${Array.from({ length: 10 }, (_, i) => line(i, { bogus: true })).join('\n')}\n`;
  const up = await upstream(t, { create: 'json', results });
  const { app, url } = await startProxy(t, { upstream: up.url, forecasting: false, config: BUDGETS });
  const c = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  await c.messages.batches.create({ requests: requests(10) });
  await c.messages.batches.retrieve(BATCH);
  const held = (await row(app)).reservedPico;
  assert.ok(held > 0);
  let n = 0;
  for await (const _ of await c.messages.batches.results(BATCH)) n++;
  assert.equal(n, 10);
  const st = await row(app);
  assert.ok(
    st.spentPico > 0,
    `billed lines with unreadable usage must count (at the estimate), not $0: spent ${st.spentPico}, reserved ${st.reservedPico}`,
  );
});

test('lines counted by a cut download, then the hold spent at expiry: only the rest of the estimate is spent, never the batch twice', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'));
  const mock = await startMockBatches(t, { now: () => clock.now() });
  const { app, url } = await startProxy(t, {
    upstream: mock.url,
    clock,
    forecasting: false,
    config: { budgets: [budget({ name: 'weekly', limit_usd: 50, window: 'week' })] },
  });
  const c = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  const b = await c.messages.batches.create({ requests: requests(40) });
  const ref = app.gate.catalog.refsFor(
    { keyId: 'x', tag: '', model: SONNET, path: '/v1/messages/batches', upstream: 'default' },
    clock.now(),
  ).refs[0]!;
  const held = (await app.gate.ledger.state([ref], clock.now()))[0]!.reservedPico;
  const r: Record<string, { type: 'succeeded'; usage: { input_tokens: number; output_tokens: number } }> = {};
  for (let i = 0; i < 40; i++) r[`req-${i}`] = { type: 'succeeded', usage: { input_tokens: 1000, output_tokens: 200 } };
  mock.end(b.id, r, clock.now());
  mock.cutNext(b.id, 6_000);
  await assert.rejects(async () => {
    for await (const _ of await c.messages.batches.results(b.id));
  });
  await clock.advance(1_000); // the recorder's and settle queue's timers run on the manual clock
  await app.flush();
  const partial = (await app.gate.ledger.state([ref], clock.now()))[0]!.spentPico;
  assert.ok(partial > 0, 'some lines counted before the cut');
  await clock.advance(24 * 3_600_000 + 60_000);
  await app.holdSweeper.sweep();
  await app.flush();
  const st = (await app.gate.ledger.state([ref], clock.now()))[0]!;
  assert.equal(st.reservedPico, 0);
  assert.ok(
    st.spentPico <= Math.max(held, partial),
    `the estimate stands in for the batch; the cut download's lines must not be added on top: spent ${st.spentPico} = held ${held} + partial ${partial}`,
  );
});

test('a create body past limits.max_batch_body_bytes, or content-encoded, is refused while a budget applies: it would hold next to nothing', async (t) => {
  const mock = await startMockBatches(t);
  const { app, url } = await startProxy(t, {
    upstream: mock.url,
    forecasting: false,
    config: { ...BUDGETS, limits: { max_batch_body_bytes: 16 * 1024 } },
  });
  const c = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  // 500 requests × max_tokens 4,096 of Sonnet: about $7.70 at batch prices; the body is about 70 KB.
  const big = requests(500).map((r) => ({ ...r, params: { ...r.params, max_tokens: 4_096 } }));
  const err = await c.messages.batches.create({ requests: big }).catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.APIError && err.status === 413, String(err));
  const encoded = await fetch(`${url}/v1/messages/batches`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: gzipSync(JSON.stringify({ requests: requests(2) })),
  });
  assert.equal(encoded.status, 415);
  assert.equal(mock.received.filter((x) => x.method === 'POST').length, 0, 'neither reached the upstream');
  assert.equal((await row(app)).reservedPico, 0);
});

test('batch creates spooled at once are bounded on disk: one past limits.max_spooled_batch_bytes is refused with a 503 naming it before a byte of it is read', async (t) => {
  const up = await upstream(t, { create: 'hang', results: '' });
  const { url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: {
      ...BUDGETS,
      limits: {
        max_request_body_bytes: 8 * 1024,
        max_buffered_request_bytes: 8 * 1024,
        max_batch_body_bytes: 64 * 1024,
        max_spooled_batch_bytes: 64 * 1024,
      },
    },
  });
  const body = JSON.stringify({ requests: requests(300) }); // about 40 KB: past the memory bound, so in a file
  assert.ok(body.length > 32 * 1024 && body.length < 64 * 1024, String(body.length));
  // The first create holds its file while the upstream has not answered.
  const leave = new AbortController();
  const first = fetch(`${url}/v1/messages/batches`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body,
    signal: leave.signal,
  }).catch(() => null);
  t.after(async () => {
    leave.abort();
    await first;
  });
  await up.createArrived;
  const metric = async (name: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };
  assert.equal(await metric('claude_meter_batch_spooled_bytes'), body.length);
  // The SDK sees an overloaded 503 it may retry, and the message names the limit.
  const c = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  const err = await c.messages.batches.create({ requests: requests(300) }).catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.APIError && err.status === 503, String(err));
  assert.equal(err.headers?.get('retry-after'), '1');
  assert.match(String(err.message), /limits\.max_spooled_batch_bytes/);
  assert.equal(await metric('claude_meter_request_bodies_refused_total'), 1);
  assert.equal(await metric('claude_meter_batch_spooled_bytes'), body.length, 'the refused one took nothing');
});

test('a batch body that cannot be held in a temporary file (the disk, not the client) gets a 503 it may retry, not silence', async (t) => {
  const up = await upstream(t, { create: 'json', results: '' });
  const { url } = await startProxy(t, {
    upstream: up.url,
    forecasting: false,
    config: { ...BUDGETS, limits: { max_request_body_bytes: 8 * 1024, max_buffered_request_bytes: 8 * 1024 } },
  });
  // os.tmpdir() reads TMPDIR at each call: the spool's directory cannot be made while it names nothing.
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = '/nonexistent/claude-meter-test';
  t.after(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  });
  const c = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  const err = await c.messages.batches.create({ requests: requests(300) }).catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.APIError && err.status === 503, String(err));
  assert.equal(err.headers?.get('x-should-retry'), 'true');
  assert.match(String(err.message), /temporary file/);
});
