/** pickMembers/parsePicked (src/usage/json-members.ts) against JSON.parse, the reference. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { memberSpans, parsePicked, pickMembers } from '../../../src/lib/json-members.ts';

const WANTED = new Set(['usage', 'model', 'id', 'stop_reason', 'error']);

/** Keys: the wanted ones, look-alikes, and arbitrary strings (quotes, backslashes, unicode). */
const key = fc.oneof(
  fc.constantFrom('usage', 'model', 'id', 'stop_reason', 'error', 'Usage', 'usage ', 'type', 'content', '__proto__'),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
/** Values, with decoys: nested objects and strings that hold `"usage":` themselves. */
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant({ usage: { input_tokens: 1 }, model: 'decoy' }),
  fc.constant('"usage":{"input_tokens":99}}'),
  fc.constant('\\'),
  fc.constant([{ id: 'x' }, ['}', ']', '{', '[']]),
);
const ws = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');

/** A JSON object text built pair by pair: duplicate keys and any whitespace allowed. */
const objectText = fc.tuple(fc.array(fc.tuple(key, value, ws, ws, fc.boolean()), { maxLength: 8 }), ws, ws).map(([pairs, lead, trail]) => {
  const members = pairs.map(([k, v, a, b, spellEscaped]) => {
    let kt = JSON.stringify(k);
    // Spell one letter of the key as a \u escape: `"us\u0061ge"` is the key "usage".
    if (spellEscaped && k.length > 0)
      kt = `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(k.slice(1)).slice(1, -1)}"`;
    return `${a}${kt}${b}:${a}${JSON.stringify(v)}${b}`;
  });
  return `${lead}{${members.join(',')}}${trail}`;
});

function reference(text: string): Map<string, unknown> {
  const obj = JSON.parse(text) as Record<string, unknown>;
  const out = new Map<string, unknown>();
  for (const k of WANTED) if (Object.hasOwn(obj, k)) out.set(k, obj[k]);
  return out;
}

test('property: on any JSON object text, the picked members are what JSON.parse gives (last duplicate wins)', () => {
  fc.assert(
    fc.property(objectText, (text) => {
      const picked = pickMembers(text, WANTED);
      assert.ok(picked !== null, text);
      assert.deepEqual(new Map(Object.entries(JSON.parse(picked) as object)), reference(text));
    }),
    { numRuns: 2000 },
  );
});

test('property: pretty-printed objects (JSON.stringify with indentation) too', () => {
  fc.assert(
    fc.property(fc.dictionary(key, value, { maxKeys: 8 }), fc.constantFrom(undefined, 0, 2, '\t'), (obj, space) => {
      const text = JSON.stringify(obj, null, space);
      const picked = parsePicked(text, WANTED) as Record<string, unknown>;
      assert.deepEqual(new Map(Object.entries(picked)), reference(text));
    }),
  );
});

test('property: every proper prefix of an object text is refused, as JSON.parse refuses it', () => {
  fc.assert(
    fc.property(objectText, fc.nat(), (text, n) => {
      const cut = text.trimEnd();
      const prefix = cut.slice(0, n % cut.length);
      assert.equal(pickMembers(prefix, WANTED), null, prefix);
      assert.equal(parsePicked(prefix, WANTED), undefined);
    }),
  );
});

test('non-objects and broken structure: parsePicked answers as JSON.parse does', () => {
  for (const text of ['[1,2]', '"usage"', '42', 'null', ' [ {"usage":1} ] ']) assert.deepEqual(parsePicked(text, WANTED), JSON.parse(text));
  for (const text of [
    '',
    '{',
    '{"a":1,}',
    '{"a" 1}',
    '{"a":1}}',
    '{"a":1} x',
    '{"a":[1}',
    '{"a":{]}',
    '{a:1}',
    '{"a":"x',
    '{"usage":{"input_tokens":1}',
    'not json',
  ]) {
    assert.equal(pickMembers(text, WANTED), null, text);
    assert.equal(parsePicked(text, WANTED), undefined, text);
  }
});

test('a real Messages body: only the metered members are returned', () => {
  const body = JSON.stringify({
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5',
    content: [
      { type: 'text', text: 'a "quoted" }{ usage: \\ text' },
      { type: 'tool_use', id: 'toolu_1', name: 't', input: { usage: 5, model: 'no' } },
    ],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 2, cache_read_input_tokens: 0 },
  });
  assert.deepEqual(parsePicked(body, WANTED), {
    id: 'msg_1',
    model: 'claude-sonnet-4-5',
    stop_reason: 'end_turn',
    usage: { input_tokens: 10, output_tokens: 2, cache_read_input_tokens: 0 },
  });
});

test('a primitive spelled wrong outside the picked members does not hide the usage (documented)', () => {
  assert.deepEqual(parsePicked('{"x":tru,"usage":{"input_tokens":1}}', WANTED), { usage: { input_tokens: 1 } });
  // ...but a wanted member that is not valid JSON makes the body unparseable.
  assert.equal(parsePicked('{"usage":{"input_tokens":01}}', WANTED), undefined);
});

test('property: memberSpans names every member in order, its key unescaped and its value where JSON.parse reads it', () => {
  fc.assert(
    fc.property(objectText, (text) => {
      const spans = memberSpans(text);
      assert.ok(spans !== null, text);
      assert.equal(text[spans.open], '{');
      const parsed = JSON.parse(text) as Record<string, unknown>;
      // The last of duplicate keys wins, as in JSON.parse.
      const last = new Map(spans.members.map((m) => [m.key, JSON.parse(text.slice(m.valueStart, m.valueEnd)) as unknown]));
      assert.deepEqual([...last.keys()].sort(), Object.keys(parsed).sort());
      for (const [k, v] of last) assert.deepEqual(v, parsed[k]);
      for (const m of spans.members) assert.equal(text[m.start], '"');
    }),
    { numRuns: 1000 },
  );
});

test('memberSpans refuses what is not one JSON object', () => {
  for (const bad of ['', '[]', '{"a":1', '{"a":1}x', '{"a" 1}', '{a:1}', '"s"']) assert.equal(memberSpans(bad), null, bad);
  assert.deepEqual(memberSpans(' {} '), { open: 1, members: [] });
});
