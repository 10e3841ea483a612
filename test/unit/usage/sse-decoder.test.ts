import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Skim, SseDecoder, type SseEvent } from '../../../src/usage/sse-decoder.ts';
import { splitAt } from './helpers.ts';

const enc = new TextEncoder();

function decode(chunks: readonly (string | Uint8Array)[], maxEventBytes = 1024): { events: SseEvent[]; dec: SseDecoder } {
  const dec = new SseDecoder({ maxEventBytes });
  const events: SseEvent[] = [];
  for (const c of chunks) events.push(...dec.push(typeof c === 'string' ? enc.encode(c) : c));
  events.push(...dec.flush());
  return { events, dec };
}

test('a basic event with name and data', () => {
  const { events } = decode(['event: message_stop\ndata: {"type":"message_stop"}\n\n']);
  assert.deepEqual(events, [{ event: 'message_stop', data: '{"type":"message_stop"}' }]);
});

test('\\r\\n split between chunks is one line ending, not a blank line', () => {
  const { events } = decode(['event: a\r', '\ndata: 1\r', '\n\r', '\n']);
  assert.deepEqual(events, [{ event: 'a', data: '1' }]);
});

test('lone \\r line endings', () => {
  const { events } = decode(['event: a\rdata: 1\r\rdata: 2\r', '\r']);
  assert.deepEqual(events, [
    { event: 'a', data: '1' },
    { event: null, data: '2' },
  ]);
});

test('mixed \\n, \\r\\n and \\r endings in one stream', () => {
  const { events } = decode(['data: a\r\n\ndata: b\r\rdata: c\n\r\n']);
  assert.deepEqual(
    events.map((e) => e.data),
    ['a', 'b', 'c'],
  );
});

test('\\r at the very end of input then flush does not lose the event', () => {
  const { events } = decode(['data: x\r\r']);
  assert.deepEqual(events, [{ event: null, data: 'x' }]);
});

test('an empty chunk after a trailing \\r keeps the pending \\r\\n pairing', () => {
  const { events } = decode(['data: x\r', new Uint8Array(0), '\n', 'data: y\n\n']);
  assert.deepEqual(events, [{ event: null, data: 'x\ny' }]);
});

test('multibyte UTF-8 (emoji, CJK, combining) split at every byte', () => {
  const text = 'data: {"t":"你好 👋🏽 café 𝄞 한국어"}\n\n';
  const bytes = enc.encode(text);
  for (let i = 0; i <= bytes.length; i++) {
    const { events } = decode([bytes.subarray(0, i), bytes.subarray(i)]);
    assert.deepEqual(events, [{ event: null, data: '{"t":"你好 👋🏽 café 𝄞 한국어"}' }], `cut at ${i}`);
  }
  // and one byte per chunk
  const { events } = decode([...bytes].map((b) => Uint8Array.of(b)));
  assert.equal(events[0]?.data, '{"t":"你好 👋🏽 café 𝄞 한국어"}');
});

test('comment lines are ignored, also long ones and ones between fields', () => {
  const { events, dec } = decode([': keep-alive\n\n', 'event: a\n:', 'x'.repeat(5000), '\ndata: 1\n\n'], 100);
  assert.deepEqual(events, [{ event: 'a', data: '1' }]);
  assert.equal(dec.droppedEvents, 0);
});

test('multiple data lines join with \\n; data with and without the space; bare "data"', () => {
  const { events } = decode(['data: line1\ndata:line2\ndata:  two-spaces\ndata\n\n']);
  assert.deepEqual(events, [{ event: null, data: 'line1\nline2\n two-spaces\n' }]);
});

test('events without data are not dispatched; empty event name is null', () => {
  const { events } = decode(['event: lonely\n\nevent:\ndata: d\n\nid: 7\nretry: 10\n\n']);
  assert.deepEqual(events, [{ event: null, data: 'd' }]);
});

test('a field line without colon and unknown fields are ignored', () => {
  const { events } = decode(['foo\nbar: baz\nevent: e\ndata: d\n\n']);
  assert.deepEqual(events, [{ event: 'e', data: 'd' }]);
});

test('a leading BOM is stripped', () => {
  const { events } = decode([Uint8Array.of(0xef, 0xbb), Uint8Array.of(0xbf), 'data: x\n\n']);
  assert.deepEqual(events, [{ event: null, data: 'x' }]);
});

test('ping events come out like any other (the consumer skips them)', () => {
  const { events } = decode(['event: ping\ndata: {"type": "ping"}\n\n'.repeat(3)]);
  assert.equal(events.length, 3);
  assert.deepEqual(events[2], { event: 'ping', data: '{"type": "ping"}' });
});

test('an oversized event is dropped whole, counted, and decoding resyncs at the blank line', () => {
  const big = 'x'.repeat(300);
  const { events, dec } = decode(
    ['data: ok1\n\n', `event: big\ndata: ${big.slice(0, 100)}`, `${big.slice(100)}\ndata: more\n\n`, 'data: ok2\n\n'],
    100,
  );
  assert.deepEqual(
    events.map((e) => e.data),
    ['ok1', 'ok2'],
  );
  assert.equal(dec.droppedEvents, 1);
});

test('an event that exceeds the bound over several lines is dropped, its name does not leak', () => {
  const { events, dec } = decode([`event: big\n${'data: 0123456789\n'.repeat(20)}\ndata: next\n\n`], 64);
  assert.deepEqual(events, [{ event: null, data: 'next' }]);
  assert.equal(dec.droppedEvents, 1);
});

test('exactly maxEventBytes is kept', () => {
  const line = `data: ${'y'.repeat(44)}`; // 50 bytes
  const { events, dec } = decode([`${line}\n\n`], 50);
  assert.equal(events.length, 1);
  assert.equal(dec.droppedEvents, 0);
});

test('flush dispatches an unterminated final event (usage evidence for a cut stream)', () => {
  const { events } = decode(['event: message_delta\ndata: {"a":1}']);
  assert.deepEqual(events, [{ event: 'message_delta', data: '{"a":1}' }]);
});

test('property: any chunking yields the same events as one chunk', () => {
  const piece = fc.constantFrom(
    'event: message_delta\n',
    'data: {"x":"é你👋"}\n',
    'data:raw\r\n',
    '\n',
    '\r\n',
    '\r',
    ': c\n',
    'data: é\r',
    'id: 1\n',
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 12 }), (pieces, cuts) => {
      const bytes = enc.encode(pieces.join(''));
      const whole = decode([bytes], 64).events;
      const split = decode(
        splitAt(
          bytes,
          cuts.map((c) => c % (bytes.length + 1)),
        ),
        64,
      ).events;
      assert.deepEqual(split, whole);
    }),
    { numRuns: 500 },
  );
});

test('memory stays bounded: a 10 MB event with no newline never grows the buffer past the bound', () => {
  const dec = new SseDecoder({ maxEventBytes: 4096 });
  const chunk = enc.encode('a'.repeat(64 * 1024));
  dec.push(enc.encode('data: '));
  for (let i = 0; i < 160; i++) assert.deepEqual(dec.push(chunk), []);
  assert.deepEqual(dec.push(enc.encode('\n\ndata: after\n\n')), [{ event: null, data: 'after' }]);
  assert.equal(dec.droppedEvents, 1);
});

/** A Skim that keeps everything it is given: what a bounded decoder hands over must be exactly the data. */
class Collect implements Skim {
  readonly parts: Uint8Array[] = [];
  write(bytes: Uint8Array): void {
    this.parts.push(bytes.slice());
  }
  end(): string {
    return Buffer.concat(this.parts).toString('utf8');
  }
}

function skimmed(chunks: readonly Uint8Array[], maxEventBytes: number) {
  const skims: { event: string | null; skim: Collect }[] = [];
  const dec = new SseDecoder({
    maxEventBytes,
    skim: (event) => {
      const skim = new Collect();
      skims.push({ event, skim });
      return skim;
    },
  });
  const events: SseEvent[] = [];
  for (const c of chunks) events.push(...dec.push(c));
  events.push(...dec.flush());
  return { events, dec, skims };
}

test('with a Skim, an oversized event streams its data through it and is dispatched with what it keeps', () => {
  const big = 'x'.repeat(300);
  const bytes = enc.encode(`data: ok1\n\nevent: big\ndata: ${big}\ndata: more\n\ndata: ok2\n\n`);
  for (let step = 1; step <= bytes.length; step += 7) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step));
    const { events, dec, skims } = skimmed(chunks, 100);
    assert.deepEqual(events, [
      { event: null, data: 'ok1' },
      { event: 'big', data: `${big}\nmore` },
      { event: null, data: 'ok2' },
    ]);
    assert.deepEqual([dec.droppedEvents, dec.skimmedEvents], [0, 1]);
    assert.equal(skims[0]?.event, 'big', 'the factory learns the event name when it came first');
  }
});

test('with a Skim, an event over the bound by its many lines goes through it too; a Skim that keeps nothing drops it', () => {
  const lines = 'data: 0123456789\n'.repeat(20);
  const { events } = skimmed([enc.encode(`event: many\n${lines}\n`)], 64);
  assert.deepEqual(events, [{ event: 'many', data: Array(20).fill('0123456789').join('\n') }]);
  const dec = new SseDecoder({ maxEventBytes: 64, skim: () => null });
  assert.deepEqual(dec.push(enc.encode(`${lines}\ndata: next\n\n`)), [{ event: null, data: 'next' }]);
  assert.equal(dec.droppedEvents, 1);
});

test('an oversized id or unknown field line is ignored, not the event; an oversized event name drops it', () => {
  const { events } = skimmed([enc.encode(`id: ${'7'.repeat(500)}\nevent: e\ndata: kept\n\nx-pad: ${'p'.repeat(500)}\ndata: too\n\n`)], 64);
  assert.deepEqual(events, [
    { event: 'e', data: 'kept' },
    { event: null, data: 'too' },
  ]);
  const named = skimmed([enc.encode(`event: ${'n'.repeat(500)}\ndata: gone\n\ndata: after\n\n`)], 64);
  assert.deepEqual(named.events, [{ event: null, data: 'after' }]);
  assert.equal(named.dec.droppedEvents, 1);
});

test('a bound too small to read the field name drops an oversized line as before', () => {
  const { events, dec } = skimmed([enc.encode('data: abcdef\n\ndata: x\n\n')], 3);
  assert.deepEqual(events, []);
  assert.equal(dec.droppedEvents, 2);
});

test('property: with a Skim that keeps everything, a bounded decoder gives the events an unbounded one gives, whatever the chunking', () => {
  const line = fc.oneof(
    fc.string({ minLength: 0, maxLength: 200, size: 'max' }).map((s) => `data: ${s.replace(/[\r\n]/g, '')}\n`),
    fc.string({ minLength: 0, maxLength: 200, size: 'max' }).map((s) => `data:${s.replace(/[\r\n]/g, '')}\r\n`),
    // Event names shorter than the bound: an oversized one drops its event by design.
    fc.constantFrom('event: message_start\n', '\n', '\r\n', ': comment\n', 'data\n'),
  );
  fc.assert(
    fc.property(
      fc.array(line, { maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.integer({ min: 21, max: 80 }),
      (lines, cuts, max) => {
        const bytes = enc.encode(lines.join(''));
        const unbounded = decode([bytes], 1 << 30).events;
        const { events } = skimmed(
          splitAt(
            bytes,
            cuts.map((c) => c % (bytes.length + 1)),
          ),
          max,
        );
        assert.deepEqual(events, unbounded);
      },
    ),
    { numRuns: 400 },
  );
});
