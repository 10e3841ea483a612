import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { UsageTap } from '../../../src/usage/tap.ts';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { DECODE_LIMITS, jsonFixture, JSON_HEADERS, outcome, runTap, sseFixture, SSE_HEADERS } from './helpers.ts';
import { SSE_CASES } from './sse-cases.ts';

const message = jsonFixture('message.json');
const webSearch = SSE_CASES.find((c) => c.file === 'web-search.sse');
if (webSearch === undefined) throw new Error('web-search.sse case missing');
const compressors: Record<string, (b: Buffer) => Buffer> = {
  gzip: gzipSync,
  'x-gzip': gzipSync,
  deflate: deflateSync,
  br: brotliCompressSync,
};

for (const [coding, compress] of Object.entries(compressors)) {
  test(`${coding}: JSON body is decoded from a copy`, async () => {
    const headers = { ...JSON_HEADERS, 'content-encoding': coding };
    const { outcome: got } = await runTap({ headers, chunks: [compress(message)] });
    assert.equal(got.usage?.input, 2095);
    assert.equal(got.missingReason, null);
  });

  test(`${coding}: SSE stream is decoded from a copy`, async () => {
    const headers = { ...SSE_HEADERS, 'Content-Encoding': coding.toUpperCase() };
    const { outcome: got } = await runTap({ headers, chunks: [compress(sseFixture('web-search.sse'))] });
    assert.deepEqual(got, webSearch.expected);
  });
}

test('raw deflate (a common server bug) is sniffed and decoded', async () => {
  const headers = { ...JSON_HEADERS, 'content-encoding': 'deflate' };
  const { outcome: got } = await runTap({ headers, chunks: [deflateRawSync(message)] });
  assert.equal(got.usage?.output, 503);
});

test('stacked encodings are undone last-applied first', async () => {
  const headers = { ...JSON_HEADERS, 'content-encoding': 'gzip, br' };
  const { outcome: got } = await runTap({ headers, chunks: [brotliCompressSync(gzipSync(message))] });
  assert.equal(got.usage?.output, 503);
});

test('too many stacked encodings, or an unknown one → unparseable_body', async () => {
  for (const coding of ['gzip, gzip, gzip, gzip, gzip, gzip', 'zstd', 'compress']) {
    const { outcome: got } = await runTap({ headers: { ...JSON_HEADERS, 'content-encoding': coding }, chunks: [message] });
    assert.equal(got.missingReason, 'unparseable_body', coding);
    assert.equal(got.usage, null);
  }
});

test('corrupt gzip → unparseable_body', async () => {
  const gz = gzipSync(message);
  gz.fill(0x55, 12, 40);
  const { outcome: got } = await runTap({ headers: { ...JSON_HEADERS, 'content-encoding': 'gzip' }, chunks: [gz] });
  assert.equal(got.missingReason, 'unparseable_body');
});

test('a gzip SSE stream cut mid-way and aborted yields the usage seen, partial', async () => {
  const gz = gzipSync(sseFixture('web-search.sse'));
  const half = gz.subarray(0, Math.floor(gz.length * 0.5));
  const { outcome: got } = await runTap({ headers: { ...SSE_HEADERS, 'content-encoding': 'gzip' }, chunks: [half], how: 'aborted' });
  assert.equal(got.partial, true);
  assert.equal(got.missingReason, null);
  assert.equal(got.usage?.input, 2679, 'message_start input, the final delta never arrived');
});

test('aborted plain SSE stream → partial with usage so far', async () => {
  const bytes = sseFixture('multi-delta.sse');
  const cut = bytes.indexOf('"output_tokens":97');
  const { outcome: got } = await runTap({ chunks: [bytes.subarray(0, cut + 200)], how: 'aborted' });
  assert.equal(got.partial, true);
  assert.equal(got.usage?.output, 97);
  assert.equal(got.usage?.input, 6120);
  assert.equal(got.stopReason, null);
});

test('an abort after message_stop is not partial: the usage was already final', async () => {
  const { outcome: got } = await runTap({ chunks: [sseFixture('basic-text.sse')], how: 'aborted' });
  assert.equal(got.partial, false);
});

test('a stream that ends cleanly without message_stop is partial', async () => {
  const bytes = sseFixture('basic-text.sse');
  const { outcome: got } = await runTap({ chunks: [bytes.subarray(0, bytes.indexOf('event: message_stop'))] });
  assert.equal(got.partial, true);
  assert.equal(got.usage?.output, 15);
});

test('SSE without message_start → stream_incomplete', async () => {
  const { outcome: got } = await runTap({ chunks: [Buffer.from('event: ping\ndata: {"type":"ping"}\n\n')] });
  assert.deepEqual(got, outcome({ model: 'claude-request-model', missingReason: 'stream_incomplete', partial: true }));
});

test('an error event before message_start → stream_incomplete with errorType', async () => {
  const body = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';
  const { outcome: got } = await runTap({ chunks: [Buffer.from(body)] });
  assert.equal(got.missingReason, 'stream_incomplete');
  assert.equal(got.errorType, 'overloaded_error');
});

test('non-2xx: error.type from the body, usage null, error_status', async () => {
  const { outcome: got } = await runTap({ status: 429, headers: JSON_HEADERS, chunks: [jsonFixture('error-rate-limit.json')] });
  assert.deepEqual(got, outcome({ model: 'claude-request-model', missingReason: 'error_status', errorType: 'rate_limit_error' }));
  const gz = gzipSync(jsonFixture('error-overloaded.json'));
  const compressed = await runTap({ status: 529, headers: { ...JSON_HEADERS, 'content-encoding': 'gzip' }, chunks: [gz] });
  assert.equal(compressed.outcome.errorType, 'overloaded_error');
  const html = await runTap({ status: 502, headers: { 'content-type': 'text/html' }, chunks: [Buffer.from('<h1>Bad gateway</h1>')] });
  assert.deepEqual(html.outcome, outcome({ model: 'claude-request-model', missingReason: 'error_status' }));
});

test('count_tokens → usage null and missingReason null (free)', async () => {
  const { outcome: got } = await runTap({
    headers: JSON_HEADERS,
    chunks: [Buffer.from('{"input_tokens":2095}')],
    opts: { path: '/v1/messages/count_tokens' },
  });
  assert.deepEqual(got, outcome({ model: 'claude-request-model' }));
});

test('other endpoints → not_metered_endpoint, bytes not even looked at', async () => {
  for (const [method, path] of [
    ['GET', '/v1/models'],
    ['POST', '/v1/messages/batches'],
    ['GET', '/v1/messages'],
  ] as const) {
    const { outcome: got } = await runTap({ headers: JSON_HEADERS, chunks: [message], opts: { method, path, requestModel: null } });
    assert.deepEqual(got, outcome({ missingReason: 'not_metered_endpoint' }), `${method} ${path}`);
  }
});

test('JSON over maxJsonBodyBytes → body_too_large (also when compressed)', async () => {
  const opts = { maxJsonBodyBytes: 100 };
  const plain = await runTap({ headers: JSON_HEADERS, chunks: [message], opts });
  assert.equal(plain.outcome.missingReason, 'body_too_large');
  const headers = { ...JSON_HEADERS, 'content-encoding': 'gzip' };
  const gz = await runTap({ headers, chunks: [gzipSync(message)], opts });
  assert.equal(gz.outcome.missingReason, 'body_too_large');
});

test('malformed JSON → unparseable_body; a truncated one after an abort → stream_incomplete', async () => {
  const bad = await runTap({ headers: JSON_HEADERS, chunks: [Buffer.from('{"usage": {"input_tokens": 1,')] });
  assert.deepEqual(bad.outcome, outcome({ model: 'claude-request-model', missingReason: 'unparseable_body' }));
  const cut = await runTap({ headers: JSON_HEADERS, chunks: [message.subarray(0, 100)], how: 'aborted' });
  assert.equal(cut.outcome.missingReason, 'stream_incomplete');
  assert.equal(cut.outcome.partial, true);
});

test('2xx JSON without usage → no_usage_field; unknown content-type → unparseable_body', async () => {
  const noUsage = await runTap({ headers: JSON_HEADERS, chunks: [Buffer.from('{"type":"message","id":"msg_1"}')] });
  assert.equal(noUsage.outcome.missingReason, 'no_usage_field');
  assert.equal(noUsage.outcome.messageId, 'msg_1');
  const text = await runTap({ headers: { 'content-type': 'text/plain' }, chunks: [message] });
  assert.equal(text.outcome.missingReason, 'unparseable_body');
});

test('no response at all → upstream_unreachable', async () => {
  const tap = new UsageTap({
    dialect: anthropic,
    route: 'metered',
    requestModel: 'm',
    maxJsonBodyBytes: 10,
    maxSseEventBytes: 10,
    ...DECODE_LIMITS,
  });
  assert.deepEqual(await tap.finish('upstream_error'), outcome({ model: 'm', missingReason: 'upstream_unreachable' }));
});

test('finish is idempotent and data after finish is ignored', async () => {
  const tap = new UsageTap({
    dialect: anthropic,
    route: 'metered',
    requestModel: null,
    maxJsonBodyBytes: 1e6,
    maxSseEventBytes: 1e6,
    ...DECODE_LIMITS,
  });
  tap.onResponseStart(200, SSE_HEADERS);
  tap.onData(sseFixture('basic-text.sse'));
  const a = tap.finish('complete');
  tap.onData(Buffer.from('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":999}}\n\n'));
  assert.equal(tap.finish('aborted'), a);
  assert.equal((await a).usage?.output, 15);
});

test('the tap never mutates the chunks it is given', async () => {
  const bytes = sseFixture('cache-split.sse');
  const copy = Buffer.from(bytes);
  await runTap({ chunks: [bytes.subarray(0, 500), bytes.subarray(500)] });
  assert.deepEqual(bytes, copy);
});

test('an oversized SSE event is dropped and counted; the rest of the stream still meters', async () => {
  const big = `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', delta: { text: 'x'.repeat(5000) } })}\n\n`;
  const bytes = sseFixture('basic-text.sse');
  const at = bytes.indexOf('event: content_block_stop');
  const chunks = [bytes.subarray(0, at), Buffer.from(big), bytes.subarray(at)];
  const { outcome: got, tap } = await runTap({ chunks, opts: { maxSseEventBytes: 1024 } });
  assert.equal(tap.droppedEvents, 1);
  assert.equal(got.usage?.output, 15);
  assert.equal(got.partial, false);
});

test('onData before onResponseStart, odd chunks and junk never throw; a stream without message_start is incomplete', async () => {
  const tap = new UsageTap({
    dialect: anthropic,
    route: 'metered',
    requestModel: null,
    maxJsonBodyBytes: 1e6,
    maxSseEventBytes: 1e6,
    ...DECODE_LIMITS,
  });
  tap.onData(Buffer.from('early'));
  tap.onResponseStart(200, { 'content-type': ['text/event-stream'], 'content-encoding': undefined });
  tap.onData(Buffer.alloc(0));
  tap.onData(Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x0a]));
  tap.onData(Buffer.from('data: {"type":"message_delta","usage":{"output_tokens":3}}\n\n'));
  const got = await tap.finish('complete');
  assert.equal(got.usage, null, 'a delta alone is not a message: its input is unknown');
  assert.equal(got.missingReason, 'stream_incomplete');
  assert.deepEqual([...tap.anomalies], ['delta_before_start']);
});

test('a large JSON body (members picked, not parsed whole) meters exactly like a small one', async () => {
  const small = JSON.parse(message.toString('utf8')) as { content: Array<{ type: string; text?: string }> };
  const big = { ...small, content: [{ type: 'text', text: 'a "quoted" }{ usage: \\ '.repeat(2000) }, ...small.content] };
  const bigBody = Buffer.from(JSON.stringify(big, null, 2));
  assert.ok(bigBody.length > 20_000);
  const want = await runTap({ headers: JSON_HEADERS, chunks: [message] });
  // Split at odd places: the tap joins the chunks before it reads the body.
  const got = await runTap({
    headers: JSON_HEADERS,
    chunks: [bigBody.subarray(0, 777), bigBody.subarray(777, 15_001), bigBody.subarray(15_001)],
  });
  assert.deepEqual(got.outcome, want.outcome);
  assert.equal(got.outcome.usage?.input, 2095);
  // The same large body cut short: incomplete after an abort, unparseable when it claims to be complete.
  const cut = await runTap({ headers: JSON_HEADERS, chunks: [bigBody.subarray(0, bigBody.length - 3)], how: 'aborted' });
  assert.equal(cut.outcome.missingReason, 'stream_incomplete');
  const broken = await runTap({ headers: JSON_HEADERS, chunks: [bigBody.subarray(0, bigBody.length - 3)] });
  assert.equal(broken.outcome.missingReason, 'unparseable_body');
  // A large error body still yields its error.type.
  const err = { type: 'error', error: { type: 'overloaded_error', message: 'x'.repeat(5000) } };
  const e = await runTap({ status: 529, headers: JSON_HEADERS, chunks: [Buffer.from(JSON.stringify(err))] });
  assert.equal(e.outcome.errorType, 'overloaded_error');
});

test('finishNow: the outcome at once without a decoder (same as finish), null while a decoder must finish', async () => {
  const mk = () =>
    new UsageTap({
      dialect: anthropic,
      route: 'metered',
      requestModel: null,
      maxJsonBodyBytes: 1 << 20,
      maxSseEventBytes: 1 << 18,
      ...DECODE_LIMITS,
    });
  const plain = mk();
  plain.onResponseStart(200, JSON_HEADERS);
  plain.onData(message);
  const now = plain.finishNow('complete');
  assert.equal(now?.usage?.input, 2095);
  assert.equal(await plain.finish('complete'), now, 'finish() gives the very same outcome');
  assert.equal(plain.finishNow('aborted'), now, 'idempotent');
  plain.onData(Buffer.from('ignored'));

  const zipped = mk();
  zipped.onResponseStart(200, { ...JSON_HEADERS, 'content-encoding': 'gzip' });
  zipped.onData(gzipSync(message));
  assert.equal(zipped.finishNow('complete'), null);
  const later = await zipped.finish('complete');
  assert.equal(later.usage?.input, 2095);
  assert.equal(zipped.finishNow('complete'), later, 'once decoded, finishNow has it too');
});
