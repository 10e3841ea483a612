/**
 * Chunk boundaries are chosen by the network, not by us. For every OpenAI-format stream: the
 * reading's outcome does not depend on them (every split in two, arbitrary cuts, gzip); and the
 * include_usage filter gives the client exactly the upstream's bytes minus what asking for
 * usage added, for every split, on the fixtures and on generated streams (LF and CRLF,
 * comments, usage members anywhere in a chunk).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { IncludeUsageFilter } from '../../../src/api/openai/filter.ts';
import { SSE_HEADERS, splitAt } from '../usage/helpers.ts';
import { FILTER_PAIRS, SSE_CASES } from './openai-cases.ts';
import { dialect, fixture, runOpenAiTap } from './openai-helpers.ts';

const cutsFor = (len: number) => fc.array(fc.integer({ min: 0, max: len }), { maxLength: 24 });

for (const c of SSE_CASES) {
  const bytes = fixture(c.file);
  const run = (chunks: readonly Uint8Array[], headers: Record<string, string> = SSE_HEADERS) =>
    runOpenAiTap({ dialect: dialect('auto'), path: c.path, chunks, headers }).then((r) => r.outcome);

  test(`${c.file}: every 2-chunk split gives the whole-stream outcome`, async () => {
    assert.deepEqual(await run([bytes]), c.expected);
    for (let i = 0; i <= bytes.length; i++)
      assert.deepEqual(await run([bytes.subarray(0, i), bytes.subarray(i)]), c.expected, `split at byte ${i}`);
  });

  test(`${c.file}: arbitrary chunking, plain and gzip, gives the same outcome`, async () => {
    await fc.assert(
      fc.asyncProperty(cutsFor(bytes.length), async (cuts) => assert.deepEqual(await run(splitAt(bytes, cuts)), c.expected)),
      { numRuns: 150 },
    );
    const gz = gzipSync(bytes);
    const headers = { ...SSE_HEADERS, 'content-encoding': 'gzip' };
    await fc.assert(
      fc.asyncProperty(cutsFor(gz.length), async (cuts) => assert.deepEqual(await run(splitAt(gz, cuts), headers), c.expected)),
      { numRuns: 30 },
    );
  });
}

/** What the client receives of `chunks` through a fresh filter. */
function filtered(chunks: readonly Uint8Array[]): Buffer {
  const f = new IncludeUsageFilter();
  const out = chunks.map((c) => f.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
  out.push(f.end());
  return Buffer.concat(out);
}

for (const [upstream, client] of FILTER_PAIRS) {
  const bytes = fixture(upstream);
  const expected = fixture(client);

  test(`filter ${upstream}: every 2-chunk split, arbitrary cuts and single bytes give ${client}`, () => {
    assert.notDeepEqual(bytes, expected, 'the fixture has something to remove');
    assert.deepEqual(filtered([bytes]), expected);
    for (let i = 0; i <= bytes.length; i++)
      assert.deepEqual(filtered([bytes.subarray(0, i), bytes.subarray(i)]), expected, `split at ${i}`);
    fc.assert(
      fc.property(cutsFor(bytes.length), (cuts) => assert.deepEqual(filtered(splitAt(bytes, cuts)), expected)),
      { numRuns: 200 },
    );
    assert.deepEqual(filtered([...bytes].map((b) => Uint8Array.of(b))), expected);
  });
}

/** One generated chat chunk: its members in some order, `usage` among them when asked. */
interface Chunk {
  kind: 'content' | 'usage-only' | 'usage-on-content' | 'comment' | 'done';
  text: string;
  /** Where the usage member goes among the others. */
  at: number;
  spaced: boolean;
}

const chunkArb: fc.Arbitrary<Chunk> = fc.record({
  kind: fc.constantFrom('content', 'content', 'content', 'usage-only', 'usage-on-content', 'comment', 'done'),
  text: fc.string({ maxLength: 12 }),
  at: fc.nat({ max: 4 }),
  spaced: fc.boolean(),
});

/** The upstream's event for a chunk, and what the client gets without include_usage (null: nothing). */
function render(c: Chunk): [upstream: string, client: string | null] {
  if (c.kind === 'comment') return [`: ${c.text.replace(/[\r\n]/g, ' ')}`, `: ${c.text.replace(/[\r\n]/g, ' ')}`];
  if (c.kind === 'done') return ['data: [DONE]', 'data: [DONE]'];
  const choices = c.kind === 'usage-only' ? [] : [{ index: 0, delta: { content: c.text }, finish_reason: null }];
  const members: [string, unknown][] = [
    ['id', 'chatcmpl-x'],
    ['object', 'chat.completion.chunk'],
    ['model', 'gpt-5.6'],
    ['choices', choices],
  ];
  const usage = c.kind === 'content' ? null : { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 };
  const withUsage = [...members];
  withUsage.splice(Math.min(c.at, members.length), 0, ['usage', usage]);
  const json = (m: [string, unknown][]) => JSON.stringify(Object.fromEntries(m), null, c.spaced ? 1 : undefined).replace(/\n/g, '');
  return [`data: ${json(withUsage)}`, c.kind === 'usage-only' ? null : `data: ${json(members)}`];
}

test('filter, generated streams: the client gets the upstream minus exactly the added usage, for every split', () => {
  fc.assert(
    fc.property(
      fc.array(chunkArb, { maxLength: 8 }),
      fc.constantFrom('\n', '\r\n'),
      fc.array(fc.nat(), { maxLength: 8 }),
      (chunks, nl, cuts) => {
        const rendered = chunks.map(render);
        const upstream = Buffer.from(rendered.map(([u]) => `${u}${nl}${nl}`).join(''));
        const client = Buffer.from(rendered.map(([, cl]) => (cl === null ? '' : `${cl}${nl}${nl}`)).join(''));
        assert.deepEqual(filtered([upstream]), client);
        assert.deepEqual(
          filtered(
            splitAt(
              upstream,
              cuts.map((x) => x % (upstream.length + 1)),
            ),
          ),
          client,
        );
      },
    ),
    { numRuns: 300 },
  );
});
