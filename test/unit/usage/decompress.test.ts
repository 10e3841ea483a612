/** The usage tap's decoder of content-encoded bodies (src/usage/decompress.ts), against node:zlib's own encoders. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { DecodeChain, MAX_STACKED_ENCODINGS, parseContentEncoding, type Coding } from '../../../src/usage/decompress.ts';

/** A body big enough to come out of a decompressor in several pieces, and not one repeated byte. */
const BODY = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `data: {"type":"ping","n":${i}}\n\n`).join(''));

const ENCODE: Record<Coding, (b: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
/** The config defaults: far above anything these bodies reach. */
const LIMITS = { maxBytes: 64 * 1024 * 1024, maxRatio: 100 };

/** Applies `applied` in order, as a server listing them in Content-Encoding would. */
function encode(body: Buffer, applied: readonly Coding[]): Buffer {
  return applied.reduce((b, c) => ENCODE[c](b), body);
}

/** Cuts `b` into pieces of the given sizes, cycling, to the end. */
function pieces(b: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < b.length; k++) {
    const n = sizes[k % sizes.length] ?? 1;
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

async function decode(
  codings: readonly Coding[],
  chunks: readonly Buffer[],
): Promise<{ out: Buffer; sinkCalls: number; failure: string | null }> {
  const got: Buffer[] = [];
  const chain = new DecodeChain(codings, (c) => got.push(Buffer.from(c)), LIMITS);
  for (const c of chunks) chain.write(c);
  await chain.end();
  return { out: Buffer.concat(got), sinkCalls: got.length, failure: chain.failure };
}

test('parseContentEncoding: the codings to undo, last applied first; identity is nothing', () => {
  assert.deepEqual(parseContentEncoding(null), []);
  assert.deepEqual(parseContentEncoding(''), []);
  assert.deepEqual(parseContentEncoding('identity'), []);
  assert.deepEqual(parseContentEncoding('gzip'), ['gzip']);
  assert.deepEqual(parseContentEncoding('x-gzip'), ['gzip']);
  assert.deepEqual(parseContentEncoding('deflate'), ['deflate']);
  assert.deepEqual(parseContentEncoding('br'), ['br']);
  assert.deepEqual(parseContentEncoding(' GZip ,BR'), ['br', 'gzip']);
  assert.deepEqual(parseContentEncoding('deflate, identity, , gzip'), ['gzip', 'deflate']);
});

test('parseContentEncoding: an unknown coding anywhere, or more than the cap, is null (not decoded)', () => {
  for (const h of ['compress', 'zstd', 'gzip, zstd', 'br;q=1', 'gzip br']) assert.equal(parseContentEncoding(h), null, h);
  assert.equal(MAX_STACKED_ENCODINGS, 5);
  const atCap = Array.from({ length: MAX_STACKED_ENCODINGS }, (_, i) => (['gzip', 'br', 'deflate'] as const)[i % 3]);
  assert.deepEqual(parseContentEncoding(atCap.join(', ')), [...atCap].reverse());
  assert.equal(parseContentEncoding([...atCap, 'gzip'].join(', ')), null);
  // identity does not count towards the cap
  assert.deepEqual(parseContentEncoding([...atCap, 'identity'].join(',')), [...atCap].reverse());
});

for (const coding of ['gzip', 'deflate', 'br'] as const) {
  test(`${coding}: decodes byte for byte, in one write, byte by byte and in odd pieces; output arrives in several chunks`, async () => {
    const wire = encode(BODY, [coding]);
    for (const chunks of [[wire], pieces(wire, [1]), pieces(wire, [7, 1, 4093, 2])]) {
      const r = await decode([coding], chunks);
      assert.equal(r.failure, null);
      assert.ok(r.out.equals(BODY), `${coding} in ${chunks.length} pieces: ${r.out.length} bytes out of ${BODY.length}`);
      assert.ok(r.sinkCalls > 1, 'output split across chunks');
    }
  });
}

test('deflate: the zlib wrapper HTTP specifies and the raw deflate some servers send both decode', async () => {
  const wrapped = deflateSync(BODY);
  const raw = deflateRawSync(BODY);
  assert.equal((wrapped[0] ?? 0) & 0x0f, 0x08);
  assert.notEqual((raw[0] ?? 0) & 0x0f, 0x08, 'a raw stream whose first byte does not look like a zlib header');
  assert.ok((await decode(['deflate'], [wrapped])).out.equals(BODY));
  assert.ok((await decode(['deflate'], pieces(raw, [1, 300]))).out.equals(BODY));
});

test('stacked codings are undone in the parsed order, up to the cap', async () => {
  const applied: Coding[] = ['gzip', 'br'];
  const codings = parseContentEncoding(applied.join(', '));
  assert.deepEqual(codings, ['br', 'gzip']);
  const r = await decode(codings ?? [], pieces(encode(BODY, applied), [333]));
  assert.equal(r.failure, null);
  assert.ok(r.out.equals(BODY));

  const five: Coding[] = ['deflate', 'gzip', 'br', 'gzip', 'deflate'];
  assert.equal(five.length, MAX_STACKED_ENCODINGS);
  const all = await decode(parseContentEncoding(five.join(',')) ?? [], [encode(BODY, five)]);
  assert.equal(all.failure, null);
  assert.ok(all.out.equals(BODY));

  // The wrong order is corrupt input, not a wrong output.
  const wrong = await decode(['gzip', 'br'], [encode(BODY, applied)]);
  assert.equal(wrong.failure, 'corrupt');
});

test('identity (no codings): the bytes pass through unchanged, chunk for chunk', async () => {
  const chunks = pieces(BODY, [10, 1, 999]);
  const r = await decode([], chunks);
  assert.equal(r.failure, null);
  assert.equal(r.sinkCalls, chunks.length);
  assert.ok(r.out.equals(BODY));
});

test('a truncated stream yields what it held, without a failure; a brotli one a prefix too', async () => {
  const gz = gzipSync(BODY);
  const cut = await decode(['gzip'], [gz.subarray(0, gz.length >> 1)]);
  assert.equal(cut.failure, null);
  assert.ok(cut.out.length > 0 && cut.out.length < BODY.length, `${cut.out.length} bytes`);
  assert.ok(BODY.subarray(0, cut.out.length).equals(cut.out), 'a prefix of the body');
  const br = brotliCompressSync(BODY);
  const cutBr = await decode(['br'], [br.subarray(0, br.length >> 1)]);
  assert.equal(cutBr.failure, null);
  assert.ok(BODY.subarray(0, cutBr.out.length).equals(cutBr.out));
});

test('undecodable bytes: failure corrupt, end() resolves, nothing more reaches the sink', async () => {
  for (const coding of ['gzip', 'br', 'deflate'] as const) {
    const junk = Buffer.from('this was never compressed, whatever the header says: '.repeat(20));
    const r = await decode([coding], [junk]);
    assert.equal(r.failure, 'corrupt', coding);
    assert.equal(r.out.length, 0, coding);
  }
  // A good stream followed by garbage in a second stage: the first stage's output is corrupt input to the second.
  const r = await decode(['gzip', 'gzip'], [gzipSync(BODY)]);
  assert.equal(r.failure, 'corrupt');
});

test('compressed bytes waiting beyond 8 MiB: the chain gives up as overloaded rather than buffer more', async () => {
  const LIMIT = 8 * 1024 * 1024;
  // Incompressible input, so the compressed stream is larger than the limit.
  const noise = randomBytes(LIMIT + 64 * 1024);
  const gz = gzipSync(noise, { level: 1 });
  assert.ok(gz.length > LIMIT + 1);
  // Writes in one tick all wait in the decompressor: exactly the limit is still accepted...
  const atLimit = await decode(['gzip'], [gz.subarray(0, LIMIT), gz.subarray(LIMIT)]);
  assert.equal(atLimit.failure, null);
  assert.ok(atLimit.out.equals(noise));
  // ...one byte more and the next write abandons decoding.
  const over = await decode(['gzip'], [gz.subarray(0, LIMIT + 1), gz.subarray(LIMIT + 1)]);
  assert.equal(over.failure, 'overloaded');
  assert.equal(over.out.length, 0);
});

test('abandon(): stops at once, end() resolves, later writes and output are dropped; empty writes are ignored', async () => {
  const got: Buffer[] = [];
  const chain = new DecodeChain(['gzip'], (c) => got.push(c), LIMITS);
  chain.write(Buffer.alloc(0));
  chain.write(gzipSync(BODY));
  chain.abandon();
  chain.write(gzipSync(BODY));
  await chain.end();
  assert.equal(chain.failure, 'abandoned');
  assert.equal(Buffer.concat(got).length, 0);
  chain.abandon('corrupt');
  assert.equal(chain.failure, 'abandoned', 'the first reason stays');

  const none = new DecodeChain(['br'], (c) => got.push(c), LIMITS);
  none.write(Buffer.alloc(0));
  await none.end();
  assert.equal(none.failure, null, 'no bytes at all: an empty body, not an error');
  assert.equal(got.length, 0);
});

test('writes after end() are ignored, and end() can be awaited twice', async () => {
  const got: Buffer[] = [];
  const chain = new DecodeChain(['gzip'], (c) => got.push(c), LIMITS);
  chain.write(gzipSync(BODY));
  const ended = chain.end();
  chain.write(gzipSync(Buffer.from('late')));
  await ended;
  await chain.end();
  assert.equal(chain.failure, null);
  assert.ok(Buffer.concat(got).equals(BODY));
});
