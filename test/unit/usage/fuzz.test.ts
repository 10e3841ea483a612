/**
 * Hostile input for the usage extraction (fast-check, bounded runs): the SSE and JSON paths fed
 * random splits, invalid UTF-8, lines over the event bound, absurd numbers and missing or
 * duplicated events. Properties: the tap never throws; a valid stream yields its exact usage
 * whatever the split; a counter that is not a count never comes out as a clean number; a
 * stream that is not one whole message is flagged; nothing kept passes its bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { isCount, type Usage } from '../../../src/core/usage.ts';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { SseDecoder } from '../../../src/usage/sse-decoder.ts';
import { oversizedEvents } from '../../../src/usage/skim.ts';
import { JSON_HEADERS, runTap, SSE_HEADERS, splitAt, usage as usageOf } from './helpers.ts';

const MODEL = 'claude-sonnet-4-5';
const frame = (event: string, data: string) => `event: ${event}\ndata: ${data}\n\n`;

interface Counts {
  input: number;
  output: number;
  cacheRead: number;
  cacheCreation: number;
}

/** The frames of one message, as the API sends them; `raw` replaces a counter's JSON text when given. */
function frames(
  u: Counts,
  o: { texts: string[]; pings: number; pad: number; raw?: { at: 'start' | 'delta'; field: string; text: string } },
) {
  const startUsage: Record<string, unknown> = {
    input_tokens: u.input,
    cache_read_input_tokens: u.cacheRead,
    cache_creation_input_tokens: u.cacheCreation,
    output_tokens: 1,
  };
  const deltaUsage: Record<string, unknown> = { output_tokens: u.output };
  const RAW = JSON.stringify('\u0000raw');
  if (o.raw) (o.raw.at === 'start' ? startUsage : deltaUsage)[o.raw.field] = '\u0000raw';
  const sub = (json: string) => (o.raw ? json.replace(RAW, o.raw.text) : json);
  const start = {
    type: 'message_start',
    message: { id: 'msg_f', type: 'message', role: 'assistant', content: [] as unknown[], model: MODEL, usage: startUsage },
  };
  if (o.pad > 0) start.message.content.push({ type: 'text', text: 'p'.repeat(o.pad) });
  const out = [frame('message_start', sub(JSON.stringify(start)))];
  out.push(frame('content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'));
  o.texts.forEach((t, i) => {
    if (i < o.pings) out.push(frame('ping', '{"type": "ping"}'));
    out.push(
      frame('content_block_delta', JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })),
    );
  });
  out.push(frame('content_block_stop', '{"type":"content_block_stop","index":0}'));
  out.push(
    frame(
      'message_delta',
      sub(JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: deltaUsage })),
    ),
  );
  out.push(frame('message_stop', '{"type":"message_stop"}'));
  return out;
}

const expected = (u: Counts): Usage =>
  usageOf({ input: u.input, output: u.output, cacheRead: u.cacheRead, cacheCreation: u.cacheCreation });

const counts = fc.record({ input: fc.maxSafeNat(), output: fc.maxSafeNat(), cacheRead: fc.maxSafeNat(), cacheCreation: fc.maxSafeNat() });
const texts = fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }), { maxLength: 12 });
const cuts = fc.array(fc.nat(), { maxLength: 16 });
/** Event bounds small enough that the padded message_start (up to 3×) and long deltas pass them. */
const cap = fc.constantFrom(256, 1024, 4096);
const eol = fc.constantFrom('\n', '\r\n', '\r');

const withEol = (s: string, e: string) => (e === '\n' ? s : s.replace(/\n/g, e));
const cut = (bytes: Buffer, points: number[]) =>
  splitAt(
    bytes,
    points.map((c) => c % (bytes.length + 1)),
  );

test('fuzz: a valid stream yields its exact usage whatever the split, line endings, pings, multibyte text or an oversized message_start', async () => {
  await fc.assert(
    fc.asyncProperty(
      counts,
      texts,
      fc.nat({ max: 3 }),
      cap,
      fc.nat({ max: 3 }),
      eol,
      cuts,
      async (u, t, pings, max, padTimes, e, points) => {
        const bytes = Buffer.from(withEol(frames(u, { texts: t, pings, pad: padTimes * max }).join(''), e));
        const { outcome } = await runTap({ chunks: cut(bytes, points), opts: { maxSseEventBytes: max } });
        assert.deepEqual(
          [outcome.usage, outcome.missingReason, outcome.partial, outcome.estimated, outcome.model],
          [expected(u), null, false, false, MODEL],
        );
      },
    ),
    { numRuns: 150 },
  );
});

test('fuzz: an oversized message_start keeps its usage at every split point', async () => {
  const u = { input: 2095, output: 503, cacheRead: 7, cacheCreation: 0 };
  const bytes = Buffer.from(frames(u, { texts: ['hé', 'llo 👋'], pings: 1, pad: 600 }).join(''));
  for (let i = 0; i <= bytes.length; i++) {
    // The usage and the members kept with it (~200 bytes) fit the bound; the event (~800) does not.
    const { outcome } = await runTap({ chunks: [bytes.subarray(0, i), bytes.subarray(i)], opts: { maxSseEventBytes: 256 } });
    assert.deepEqual(outcome.usage, expected(u), `split at ${i}`);
  }
});

/** JSON texts for a counter: what JSON.parse makes of them decides whether they are counts. */
const RAW_NUMBERS = [
  '-1000',
  '-1',
  '100.5',
  '1e308',
  '-1e308',
  '9007199254740993',
  '9007199254740992',
  '"100000"',
  '"7"',
  '1e3',
  '2.5e1',
  '0.0',
  '1.0',
  '12.0001',
  'true',
  '[]',
  '{}',
];
const rawNumber = fc.oneof(
  fc.constantFrom(...RAW_NUMBERS),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.integer().map(String),
);

test('fuzz: a counter that is not a count is flagged invalid_usage, never read as a clean number (SSE)', async () => {
  const fields = fc.constantFrom(
    { at: 'start' as const, field: 'input_tokens' },
    { at: 'start' as const, field: 'cache_read_input_tokens' },
    { at: 'start' as const, field: 'cache_creation_input_tokens' },
    { at: 'delta' as const, field: 'output_tokens' },
    { at: 'delta' as const, field: 'input_tokens' },
  );
  await fc.assert(
    fc.asyncProperty(counts, fields, rawNumber, cuts, async (u, where, text, points) => {
      const bytes = Buffer.from(frames(u, { texts: ['a'], pings: 0, pad: 0, raw: { ...where, text } }).join(''));
      const { outcome } = await runTap({ chunks: cut(bytes, points) });
      const v: unknown = JSON.parse(text);
      if (!isCount(v)) {
        assert.equal(outcome.missingReason, 'invalid_usage', text);
        assert.equal(outcome.usage, null);
        return;
      }
      if (where.at === 'delta' && where.field === 'input_tokens' && v < u.input) {
        // Cumulative: a delta's input below message_start's contradicts it.
        assert.equal(outcome.missingReason, 'invalid_usage', text);
        return;
      }
      // A count, however spelt (1e3, 2.5e1, 1.0): read exactly.
      const want = expected(u);
      if (where.at === 'start' && where.field === 'input_tokens') want.input = v;
      if (where.field === 'cache_read_input_tokens') want.cacheRead = v;
      if (where.field === 'cache_creation_input_tokens') want.cacheCreation = v;
      if (where.at === 'delta' && where.field === 'output_tokens') want.output = v;
      if (where.at === 'delta' && where.field === 'input_tokens') want.input = v;
      // A count below message_start's placeholder of 1 is allowed; only a delta going down is not.
      assert.deepEqual([outcome.usage, outcome.missingReason], [want, null], text);
    }),
    { numRuns: 300 },
  );
});

test('fuzz: a counter that is not a count is flagged invalid_usage in a JSON body too, compressed or not', async () => {
  const field = fc.constantFrom('input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens');
  await fc.assert(
    fc.asyncProperty(field, rawNumber, fc.boolean(), fc.nat({ max: 4000 }), cuts, async (f, text, gzip, pad, points) => {
      const usage: Record<string, string> = { input_tokens: '10', output_tokens: '20', [f]: text };
      const members = Object.entries(usage).map(([k, v]) => `"${k}":${v}`);
      const plain = Buffer.from(
        `{"id":"msg_j","model":"${MODEL}","content":[{"type":"text","text":"${'t'.repeat(pad)}"}],"usage":{${members.join(',')}}}`,
      );
      const bytes = gzip ? gzipSync(plain) : plain;
      const headers = gzip ? { ...JSON_HEADERS, 'content-encoding': 'gzip' } : JSON_HEADERS;
      const { outcome } = await runTap({ headers, chunks: cut(bytes, points) });
      const v: unknown = JSON.parse(text);
      if (isCount(v)) assert.equal(outcome.missingReason, null, text);
      else assert.deepEqual([outcome.missingReason, outcome.usage], ['invalid_usage', null], text);
    }),
    { numRuns: 200 },
  );
});

test('fuzz: a stream that is not exactly one whole message (events dropped or repeated) is never recorded as a clean, complete one', async () => {
  const edit = fc.array(fc.tuple(fc.nat(), fc.constantFrom('drop', 'twice')), { maxLength: 4 });
  await fc.assert(
    fc.asyncProperty(counts, edit, cuts, async (u, edits, points) => {
      const fs = frames(u, { texts: ['one ', 'two'], pings: 1, pad: 0 });
      for (const [i, how] of edits) {
        const at = i % fs.length;
        if (how === 'drop') fs.splice(at, 1);
        else fs.splice(at, 0, fs[at] as string);
      }
      const { outcome } = await runTap({ chunks: cut(Buffer.from(fs.join('')), points) });
      const n = (event: string) => fs.filter((f) => f.startsWith(`event: ${event}\n`)).length;
      const clean = outcome.missingReason === null && !outcome.partial;
      if (n('message_start') !== 1) assert.notEqual(outcome.missingReason, null, 'no message_start, or two, is flagged');
      if (clean) {
        assert.ok(n('message_start') === 1 && n('message_delta') >= 1 && n('message_stop') >= 1, fs.join(''));
        assert.deepEqual(outcome.usage, expected(u));
      }
      if (outcome.usage !== null)
        for (const k of ['input', 'output', 'cacheRead', 'cacheCreation'] as const) assert.ok(isCount(outcome.usage[k]));
    }),
    { numRuns: 300 },
  );
});

/** Bytes that are mostly a real stream, with random bytes (invalid UTF-8, NULs, lone CRs, huge runs) spliced in. */
const hostile = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc
          .constantFrom('data: {"type":"message_start"', '\n\n', '\r', '\xff\xfe', 'event: message_delta\n')
          .map((s) => Buffer.from(s, 'latin1')),
        fc.nat({ max: 5000 }).map((n) => Buffer.alloc(n, 0x41)),
      ),
      { maxLength: 12 },
    ),
    fc.nat(),
  )
  .map(([junk, at]) => {
    const real = Buffer.from(frames({ input: 5, output: 6, cacheRead: 0, cacheCreation: 0 }, { texts: ['x'], pings: 1, pad: 0 }).join(''));
    const p = at % (real.length + 1);
    return Buffer.concat([real.subarray(0, p), ...junk, real.subarray(p)]);
  });

test('fuzz: hostile bytes never throw out of the tap, in SSE, JSON, gzip or not, and any usage that comes out holds only counts', async () => {
  await fc.assert(
    fc.asyncProperty(
      hostile,
      fc.constantFrom('sse', 'json'),
      fc.boolean(),
      cuts,
      fc.constantFrom('complete', 'aborted', 'upstream_error'),
      async (bytes, mode, gzip, points, how) => {
        const base = mode === 'sse' ? SSE_HEADERS : JSON_HEADERS;
        const headers = gzip ? { ...base, 'content-encoding': 'gzip' } : base;
        const body = gzip ? gzipSync(bytes).subarray(0, Math.max(10, (points[0] ?? 0) % 400)) : bytes; // often a cut, corrupt gzip
        const { outcome } = await runTap({
          headers,
          chunks: cut(body, points),
          how,
          opts: { maxSseEventBytes: 1024, maxJsonBodyBytes: 4096 },
        });
        assert.equal(typeof outcome, 'object');
        assert.ok(outcome.usage !== null || outcome.missingReason !== null, 'no usage always says why');
        if (outcome.usage !== null)
          for (const k of ['input', 'output', 'cacheRead', 'cacheCreation', 'webSearchRequests'] as const)
            assert.ok(isCount(outcome.usage[k]));
      },
    ),
    { numRuns: 200 },
  );
});

test('fuzz: every event the decoder hands the tap fits the bound, oversized ones as what their Skim kept', () => {
  fc.assert(
    fc.property(hostile, fc.integer({ min: 16, max: 512 }), cuts, (bytes, max, points) => {
      const reading = anthropic.newStream(null);
      const dec = new SseDecoder({ maxEventBytes: max, skim: oversizedEvents(anthropic, reading, max) });
      // The bound is on the bytes received: an invalid byte decodes to U+FFFD (3 bytes re-encoded), so each counts as one.
      const received = (data: string): number => Buffer.byteLength(data.replaceAll('\uFFFD', '?'));
      for (const c of cut(bytes, points))
        for (const ev of dec.push(c)) assert.ok(received(ev.data) <= max, `${received(ev.data)} > ${max}`);
      for (const ev of dec.flush()) assert.ok(received(ev.data) <= max);
    }),
    { numRuns: 300 },
  );
});
