/**
 * BatchResultsReader (src/api/anthropic/batch-results.ts): a batch's JSONL results read in
 * arbitrary pieces equal each line read whole with JSON.parse and the dialect's body reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchResultsReader, type BatchResultLine } from '../../../src/api/anthropic/batch-results.ts';
import { parseMessageBody } from '../../../src/api/anthropic/usage.ts';
import { usage } from '../usage/helpers.ts';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A result line as the API writes it: a full Message on success. */
function succeeded(customId: string, u: Record<string, unknown>, text = 'Hello', model = 'claude-sonnet-4-5-20250929'): string {
  return JSON.stringify({
    custom_id: customId,
    result: {
      type: 'succeeded',
      message: {
        id: `msg_${customId}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: u,
      },
    },
  });
}
const USAGE = {
  input_tokens: 10,
  output_tokens: 20,
  cache_creation_input_tokens: 30,
  cache_read_input_tokens: 40,
  cache_creation: { ephemeral_5m_input_tokens: 10, ephemeral_1h_input_tokens: 20 },
  server_tool_use: { web_search_requests: 2 },
  service_tier: 'batch',
  inference_geo: 'global',
};
const errored = (id: string): string =>
  JSON.stringify({
    custom_id: id,
    result: { type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: 'bad' } } },
  });
const plain = (id: string, type: string): string => JSON.stringify({ custom_id: id, result: { type } });

/** Reads `text` in the given pieces: every line returned, the malformed count and whether it was cut. */
function readAll(bytes: Buffer, cuts: number[], maxKept = 64 * 1024): { lines: BatchResultLine[]; malformed: number; cut: boolean } {
  const r = new BatchResultsReader(maxKept);
  const lines: BatchResultLine[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    lines.push(...r.push(bytes.subarray(at, c)));
    at = c;
  }
  lines.push(...r.push(bytes.subarray(at)));
  const end = r.end();
  lines.push(...end.lines);
  assert.equal(r.lines, lines.length);
  return { lines, malformed: r.malformed, cut: end.cut };
}

test('every result type, with the usage the dialect reads from a Message body', () => {
  const body = [succeeded('a', USAGE), errored('b'), plain('c', 'canceled'), plain('d', 'expired'), plain('e', 'paused')].join('\n') + '\n';
  const { lines, malformed, cut } = readAll(enc(body), []);
  assert.equal(malformed, 0);
  assert.equal(cut, false);
  const none = { usage: null, model: null, messageId: null };
  assert.deepEqual(lines, [
    {
      customId: 'a',
      type: 'succeeded',
      usage: usage({
        input: 10,
        output: 20,
        cacheCreation: 30,
        cacheCreation5m: 10,
        cacheCreation1h: 20,
        cacheRead: 40,
        webSearchRequests: 2,
        serviceTier: 'batch',
        inferenceGeo: 'global',
      }),
      model: 'claude-sonnet-4-5-20250929',
      messageId: 'msg_a',
    },
    { customId: 'b', type: 'errored', ...none },
    { customId: 'c', type: 'canceled', ...none },
    { customId: 'd', type: 'expired', ...none },
    { customId: 'e', type: 'unknown', ...none },
  ]);
});

test('a usage without service_tier is batch-priced; a tier the line names is kept', () => {
  const { lines } = readAll(
    enc(
      `${succeeded('a', { input_tokens: 1, output_tokens: 2 })}\n${succeeded('b', { input_tokens: 1, output_tokens: 2, service_tier: 'standard' })}\n`,
    ),
    [],
  );
  assert.equal(lines[0]?.usage?.serviceTier, 'batch');
  assert.equal(lines[1]?.usage?.serviceTier, 'standard');
});

test('a succeeded line whose usage is unreadable is returned as succeeded with usage null, never as $0', () => {
  const bad = [
    succeeded('a', { input_tokens: '10', output_tokens: 2 }),
    succeeded('b', { input_tokens: -1, output_tokens: 2 }),
    JSON.stringify({ custom_id: 'c', result: { type: 'succeeded' } }),
    JSON.stringify({ custom_id: 'd', result: { type: 'succeeded', message: { id: 'm', usage: {} } } }),
    JSON.stringify({ custom_id: 'e', result: { type: 'succeeded', message: 'x' } }),
  ];
  const { lines, malformed } = readAll(enc(`${bad.join('\n')}\n`), []);
  assert.equal(malformed, 0);
  assert.deepEqual(
    lines.map((l) => [l.customId, l.type, l.usage]),
    ['a', 'b', 'c', 'd', 'e'].map((id) => [id, 'succeeded', null]),
  );
});

test('malformed lines are counted and skipped, never thrown; blank lines and CRLF are tolerated', () => {
  const body = [
    '',
    'not json',
    '{"custom_id":"x"',
    '[1,2]',
    JSON.stringify({ custom_id: 'x'.repeat(65), result: { type: 'succeeded' } }),
    JSON.stringify({ custom_id: '', result: { type: 'errored' } }),
    JSON.stringify({ custom_id: 7, result: { type: 'errored' } }),
    JSON.stringify({ custom_id: 'n', result: 'succeeded' }),
    JSON.stringify({ custom_id: 'n', result: { type: 3 } }),
    '{"custom_id": nul, "result": {"type": "errored"}}',
    '{"custom_id":"ok","result":{"type":"errored"}} trailing',
    '   \t ',
    `${errored('y'.repeat(64))}\r`,
    '\r',
    plain('z', 'expired'),
  ].join('\n');
  const { lines, malformed, cut } = readAll(enc(body), []);
  assert.equal(malformed, 10);
  assert.equal(cut, false, 'the last line lacks a newline but is whole');
  assert.deepEqual(
    lines.map((l) => l.customId),
    ['y'.repeat(64), 'z'],
  );
});

test('a body cut inside a line reports it cut and does not return the partial line', () => {
  const whole = `${succeeded('a', USAGE)}\n${succeeded('b', USAGE)}\n`;
  for (let cutAt = whole.indexOf('\n') + 2; cutAt < whole.length - 1; cutAt += 7) {
    const { lines, cut, malformed } = readAll(enc(whole.slice(0, cutAt)), [cutAt >> 1]);
    assert.deepEqual(
      lines.map((l) => l.customId),
      ['a'],
      `cut at ${cutAt}`,
    );
    assert.equal(cut, true, `cut at ${cutAt}`);
    assert.equal(malformed, 0);
  }
  const garbage = readAll(enc(`${errored('a')}\n{"custom_id":"b"]`), []);
  assert.equal(garbage.cut, false, 'a last line that can never become JSON is malformed, not cut');
  assert.equal(garbage.malformed, 1);
  assert.deepEqual(readAll(enc(`${errored('a')}\n  \r\n`), []).cut, false, 'trailing white space is not a cut line');
});

test('a line far larger than the bound is read with bounded memory; kept members past the bound are malformed', () => {
  const huge = 'é🙂 long output '.repeat(40_000); // ~800 KB of multibyte text
  const body = enc(`${succeeded('a', USAGE, huge)}\n${succeeded('b', USAGE, 'x', 'm'.repeat(3000))}\n${errored('c')}\n`);
  assert.ok(body.length > 500_000);
  const { lines, malformed } = readAll(body, [1000, 333_333, 333_334, 333_335, body.length - 3], 2048);
  assert.deepEqual(
    lines.map((l) => [l.customId, l.usage?.output ?? null]),
    [
      ['a', 20],
      ['c', null],
    ],
  );
  assert.equal(malformed, 1, 'a 3,000-char model passes the 2,048-byte bound of what a line may keep');
});

test('the bound must be a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new BatchResultsReader(bad), RangeError);
});

// ---- Property: any result set, serialized and split anywhere, equals JSON.parse line by line.

const count = fc.oneof(fc.nat({ max: 200_000 }), fc.constant(0));
const usageArb = fc.record(
  {
    input_tokens: count,
    output_tokens: count,
    cache_creation_input_tokens: fc.oneof(count, fc.constant(null)),
    cache_read_input_tokens: fc.oneof(count, fc.constant(null)),
    cache_creation: fc.record({ ephemeral_5m_input_tokens: count, ephemeral_1h_input_tokens: count }),
    server_tool_use: fc.record({ web_search_requests: count }),
    service_tier: fc.constantFrom('batch', 'standard'),
    inference_geo: fc.constantFrom('global', 'us'),
  },
  { requiredKeys: ['input_tokens', 'output_tokens'] },
);
const id = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => s.length <= 64);
const textArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  // Some lines are huge: far past the 4 KB the reader may keep.
  fc
    .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), fc.integer({ min: 1_000, max: 20_000 }))
    .map(([s, n]) => s.repeat(n)),
);
const resultArb = fc.oneof(
  fc.record({
    type: fc.constant('succeeded'),
    message: fc.record({
      id,
      type: fc.constant('message'),
      model: id,
      content: fc.array(fc.record({ type: fc.constant('text'), text: textArb }), { maxLength: 2 }),
      usage: usageArb,
    }),
  }),
  fc.record({
    type: fc.constant('errored'),
    error: fc.record({ type: fc.constant('error'), error: fc.record({ type: id, message: textArb }) }),
  }),
  fc.record({ type: fc.constantFrom('canceled', 'expired', 'something_new') }),
);
const lineArb = fc.record({ custom_id: id, result: resultArb });

/** The reference: the whole line with JSON.parse, usage through the dialect's Message body reader. */
function reference(line: string): BatchResultLine {
  const o = JSON.parse(line);
  const type = ['succeeded', 'errored', 'canceled', 'expired'].includes(o.result.type) ? o.result.type : 'unknown';
  if (type !== 'succeeded') return { customId: o.custom_id, type, usage: null, model: null, messageId: null };
  const b = parseMessageBody(o.result.message);
  if (b.usage !== null && b.usage.serviceTier === null) b.usage.serviceTier = 'batch';
  return { customId: o.custom_id, type, usage: b.usage, model: b.model, messageId: b.messageId };
}

test('property: JSONL split at random byte offsets (multibyte, CRLF, blank lines, huge lines) equals JSON.parse per line', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(lineArb, fc.constantFrom('\n', '\r\n', '\n\n', '\n \r\n')), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 12 }),
      (rows, finalNewline, rawCuts) => {
        const texts = rows.map(([l]) => JSON.stringify(l));
        let body = rows.map(([, sep], i) => `${texts[i]}${sep}`).join('');
        if (!finalNewline) body = body.replace(/[\r\n ]+$/, '');
        const bytes = enc(body);
        const cuts = rawCuts.map((c) => c % (bytes.length + 1));
        const got = readAll(bytes, cuts, 4096);
        assert.deepEqual(got.lines, texts.map(reference));
        assert.equal(got.malformed, 0);
        assert.equal(got.cut, false);
      },
    ),
    { numRuns: 150 },
  );
});
