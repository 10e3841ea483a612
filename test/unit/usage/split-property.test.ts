/**
 * Chunk boundaries are chosen by the network, not by us: the outcome must not depend on them.
 * Every fixture is fed whole, split exhaustively in two at every byte, and split at arbitrary
 * cut points; compressed variants are split arbitrarily in their compressed form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { jsonFixture, JSON_HEADERS, runTap, splitAt, sseFixture, SSE_HEADERS } from './helpers.ts';
import { SSE_CASES } from './sse-cases.ts';

const cutsFor = (len: number) => fc.array(fc.integer({ min: 0, max: len }), { maxLength: 24 });

for (const c of SSE_CASES) {
  const bytes = sseFixture(c.file);

  test(`${c.file}: every 2-chunk split gives the whole-stream outcome`, async () => {
    const whole = (await runTap({ chunks: [bytes] })).outcome;
    assert.deepEqual(whole, c.expected);
    for (let i = 0; i <= bytes.length; i++) {
      const { outcome } = await runTap({ chunks: [bytes.subarray(0, i), bytes.subarray(i)] });
      assert.deepEqual(outcome, whole, `split at byte ${i}`);
    }
  });

  test(`${c.file}: arbitrary chunking gives the same outcome`, async () => {
    await fc.assert(
      fc.asyncProperty(cutsFor(bytes.length), async (cuts) => {
        const { outcome } = await runTap({ chunks: splitAt(bytes, cuts) });
        assert.deepEqual(outcome, c.expected);
      }),
      { numRuns: 200 },
    );
  });

  test(`${c.file}: gzip-compressed, arbitrarily chunked, gives the same outcome`, async () => {
    const gz = gzipSync(bytes);
    const headers = { ...SSE_HEADERS, 'content-encoding': 'gzip' };
    await fc.assert(
      fc.asyncProperty(cutsFor(gz.length), async (cuts) => {
        const { outcome } = await runTap({ headers, chunks: splitAt(gz, cuts) });
        assert.deepEqual(outcome, c.expected);
      }),
      { numRuns: 40 },
    );
  });
}

test('one-byte chunks of every fixture, gzip and br', async () => {
  for (const c of SSE_CASES) {
    const bytes = sseFixture(c.file);
    const oneByte = (b: Uint8Array) => [...b].map((x) => Uint8Array.of(x));
    assert.deepEqual((await runTap({ chunks: oneByte(bytes) })).outcome, c.expected, c.file);
    const br = { ...SSE_HEADERS, 'content-encoding': 'br' };
    assert.deepEqual((await runTap({ headers: br, chunks: oneByte(brotliCompressSync(bytes)) })).outcome, c.expected);
  }
});

test('JSON bodies, plain and compressed, any chunking gives the same outcome', async () => {
  const body = jsonFixture('message-cache-split.json');
  const whole = (await runTap({ headers: JSON_HEADERS, chunks: [body] })).outcome;
  assert.notEqual(whole.usage, null);
  const variants: [string | null, Buffer][] = [
    [null, body],
    ['gzip', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['br', brotliCompressSync(body)],
  ];
  for (const [coding, bytes] of variants) {
    const headers = coding === null ? JSON_HEADERS : { ...JSON_HEADERS, 'content-encoding': coding };
    await fc.assert(
      fc.asyncProperty(cutsFor(bytes.length), async (cuts) => {
        const { outcome } = await runTap({ headers, chunks: splitAt(bytes, cuts) });
        assert.deepEqual(outcome, whole);
      }),
      { numRuns: 50 },
    );
  }
});
