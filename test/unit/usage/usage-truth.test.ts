/**
 * Usage that tells the truth: a count that is not a count, a stream that is not one message, an
 * oversized opening event, a stream cut short and a decompression bomb each end in a flagged
 * outcome, never in a clean 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { JSON_HEADERS, runTap, sseFixture, SSE_HEADERS } from './helpers.ts';

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const start = (usage: object, extra: object = {}) =>
  frame('message_start', { type: 'message_start', message: { id: 'msg_t', model: 'claude-sonnet-4-5', ...extra, usage } });
const delta = (usage: object) => frame('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage });
const text = (t: string) => frame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } });
const STOP = frame('message_stop', { type: 'message_stop' });
const sse = (...frames: string[]) => [Buffer.from(frames.join(''))];

test('JSON: input_tokens of -1000, 1e308, "100000" or 100.5 is invalid_usage, never a clean 0', async () => {
  for (const bad of ['-1000', '1e308', '"100000"', '100.5', '9007199254740993']) {
    const body = `{"id":"msg_1","model":"claude-sonnet-4-5","usage":{"input_tokens":${bad},"output_tokens":10}}`;
    const { outcome } = await runTap({ headers: JSON_HEADERS, chunks: [Buffer.from(body)] });
    assert.equal(outcome.missingReason, 'invalid_usage', bad);
    assert.equal(outcome.usage, null, bad);
  }
});

test('SSE: a negative or decreasing cumulative output_tokens in message_delta is invalid_usage', async () => {
  const negative = await runTap({ chunks: sse(start({ input_tokens: 25, output_tokens: 1 }), delta({ output_tokens: -5 }), STOP) });
  assert.equal(negative.outcome.missingReason, 'invalid_usage');
  assert.equal(negative.outcome.usage, null);
  const down = await runTap({
    chunks: sse(start({ input_tokens: 25, output_tokens: 1 }), delta({ output_tokens: 50 }), delta({ output_tokens: 20 }), STOP),
  });
  assert.equal(down.outcome.missingReason, 'invalid_usage');
  assert.ok(down.tap.anomalies.has('output_decreased'));
});

test('SSE: a stream with two message_start is invalid_usage; one without any is stream_incomplete, not complete', async () => {
  const two = await runTap({
    chunks: sse(
      start({ input_tokens: 25, output_tokens: 1 }),
      start({ input_tokens: 99, output_tokens: 1 }),
      delta({ output_tokens: 9 }),
      STOP,
    ),
  });
  assert.equal(two.outcome.missingReason, 'invalid_usage');
  assert.equal(two.outcome.usage, null);
  const none = await runTap({ chunks: sse(text('hello'), delta({ input_tokens: 25, output_tokens: 9 }), STOP) });
  assert.equal(none.outcome.missingReason, 'stream_incomplete');
  assert.equal(none.outcome.usage, null);
});

test('an oversized message_start (2× max_sse_event_bytes) keeps its input tokens, whatever holds the bulk and however it is split', async () => {
  const max = 4096;
  const usage = { input_tokens: 2095, cache_read_input_tokens: 17, output_tokens: 1 };
  const bulky = [
    start(usage, { content: [{ type: 'text', text: 'x'.repeat(2 * max) }] }), // before usage, as Anthropic orders it
    start(usage, { padding: Array.from({ length: max }, (_, i) => ({ i })) }), // structure, not one string
    `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { model: 'claude-sonnet-4-5', usage } }).slice(0, -1)}\ndata: ,"pad":"${'y'.repeat(2 * max)}"}\n\n`, // two data lines
  ];
  for (const big of bulky) {
    assert.ok(big.length > 2 * max);
    const bytes = Buffer.from(big + text('hi') + delta({ output_tokens: 30 }) + STOP);
    for (const step of [bytes.length, 1000, 7, 1]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step));
      const { outcome, tap } = await runTap({ chunks, opts: { maxSseEventBytes: max } });
      assert.equal(outcome.missingReason, null, `chunks of ${step}`);
      assert.equal(outcome.usage?.input, 2095, `chunks of ${step}`);
      assert.equal(outcome.usage?.cacheRead, 17);
      assert.equal(outcome.usage?.output, 30);
      assert.equal(outcome.model, 'claude-sonnet-4-5');
      assert.equal(tap.droppedEvents, 0);
    }
  }
});

test('a stream cut short records the usage seen plus an estimate of the output streamed after it, flagged', async () => {
  const chunks = sse(start({ input_tokens: 25, output_tokens: 1 }), text('a'.repeat(300)), text('b'.repeat(300)));
  for (const how of ['aborted', 'upstream_error', 'complete'] as const) {
    const { outcome } = await runTap({ chunks, how });
    assert.equal(outcome.partial, true, how);
    assert.equal(outcome.estimated, true, how);
    assert.equal(outcome.missingReason, null);
    assert.equal(outcome.usage?.input, 25);
    assert.equal(outcome.usage?.output, 1 + 200, '600 characters at 3 a token, after the count message_start reported');
  }
  // A whole stream is not estimated, and neither is one cut after its final message_delta.
  const whole = await runTap({ chunks: [sseFixture('basic-text.sse')], how: 'aborted' });
  assert.equal(whole.outcome.estimated, false);
  const fixture = sseFixture('basic-text.sse');
  const afterDelta = await runTap({ chunks: [fixture.subarray(0, fixture.indexOf('event: message_stop'))], how: 'aborted' });
  assert.equal(afterDelta.outcome.estimated, false);
  assert.equal(afterDelta.outcome.usage?.output, 15);
});

test('message_stop without a message_delta: the final output count never came, so the stream is partial and estimated', async () => {
  const { outcome } = await runTap({ chunks: sse(start({ input_tokens: 25, output_tokens: 1 }), text('x'.repeat(30)), STOP) });
  assert.deepEqual([outcome.partial, outcome.estimated, outcome.usage?.output], [true, true, 11]);
});

test('an oversized content delta still counts toward the estimate (its size is kept, not its text)', async () => {
  const big = text('z'.repeat(9000));
  const { outcome, tap } = await runTap({
    chunks: sse(start({ input_tokens: 25, output_tokens: 1 }), big),
    how: 'aborted',
    opts: { maxSseEventBytes: 1024 },
  });
  assert.equal(tap.droppedEvents, 1);
  assert.equal(outcome.estimated, true);
  assert.ok(outcome.usage !== null && outcome.usage.output >= 3000, `output ${outcome.usage?.output}`);
});

test('decompression past max_decompressed_bytes stops metering with decompression_limit', async () => {
  // Text that compresses about 3:1, well inside the ratio bound: only the byte bound stops it.
  const lines: string[] = [];
  for (let i = 0, size = 0; size < 3 * 1024 * 1024; i++) {
    lines.push(text(`${i.toString(36)} ${(i * 2654435761).toString(16)}`));
    size += (lines.at(-1) as string).length;
  }
  const body = Buffer.from(start({ input_tokens: 25, output_tokens: 1 }) + lines.join('') + delta({ output_tokens: 9 }) + STOP);
  const gz = gzipSync(body);
  const headers = { ...SSE_HEADERS, 'content-encoding': 'gzip' };
  const limited = await runTap({ headers, chunks: [gz], opts: { maxDecompressedBytes: 2 * 1024 * 1024 } });
  assert.equal(limited.outcome.missingReason, 'decompression_limit');
  assert.equal(limited.outcome.usage, null);
  const enough = await runTap({ headers, chunks: [gz], opts: { maxDecompressedBytes: 4 * 1024 * 1024 } });
  assert.equal(enough.outcome.missingReason, null);
  assert.equal(enough.outcome.usage?.output, 9);
});

test('decompression past max_decompression_ratio (after the first MiB) stops metering with decompression_limit', async () => {
  const zeros = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // ~1000:1
  const json = { ...JSON_HEADERS, 'content-encoding': 'gzip' };
  const { outcome } = await runTap({ headers: json, chunks: [zeros], opts: { maxJsonBodyBytes: 1 << 30 } });
  assert.equal(outcome.missingReason, 'decompression_limit');
  // The same ratio under a MiB decodes: small bodies compress unevenly.
  const small = gzipSync(Buffer.from(`{"usage":{"input_tokens":3,"output_tokens":4},"pad":"${' '.repeat(900 * 1024)}"}`));
  const fine = await runTap({ headers: json, chunks: [small] });
  assert.equal(fine.outcome.missingReason, null);
  assert.equal(fine.outcome.usage?.output, 4);
});
