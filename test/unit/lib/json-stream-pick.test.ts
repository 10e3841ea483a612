/** JsonStreamPick (src/lib/json-stream-pick.ts) against JSON.parse, the reference, fed in arbitrary pieces. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonStreamPick, pickPaths } from '../../../src/lib/json-stream-pick.ts';

const PATHS = [['type'], ['message', 'id'], ['message', 'usage'], ['delta', 'stop_reason'], ['usage'], ['error', 'type']];

const key = fc.oneof(
  fc.constantFrom('type', 'message', 'usage', 'id', 'delta', 'stop_reason', 'error', 'content', 'Usage', '__proto__'),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
/** Values: anything, objects keyed like the wanted paths, and decoys that spell them inside strings. */
const inner = fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  inner,
  fc.record({ usage: inner, id: fc.string() }),
  fc.constant('"usage":{"input_tokens":99}}'),
  fc.constant([{ usage: 1 }, ['}', ']', '{', '[', '\\']]),
);
const ws = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');

/** An object text built member by member: duplicate keys, any whitespace, keys spelt with escapes. */
const objectText = fc
  .tuple(fc.array(fc.tuple(key, value, ws, fc.boolean(), fc.constantFrom(undefined, 2)), { maxLength: 8 }), ws)
  .map(([members, lead]) => {
    const parts = members.map(([k, v, a, escaped, space]) => {
      let kt = JSON.stringify(k);
      if (escaped && k.length > 0) kt = `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(k.slice(1)).slice(1, -1)}"`;
      return `${a}${kt}${a}:${a}${JSON.stringify(v, null, space)}${a}`;
    });
    return `${lead}{${parts.join(',')}}${lead}`;
  });

type Tree = Map<string, Tree | null>;
function tree(paths: string[][]): Tree {
  const root: Tree = new Map();
  for (const p of paths) {
    let node = root;
    p.forEach((k, i) => {
      if (i === p.length - 1) node.set(k, null);
      else {
        if (!(node.get(k) instanceof Map)) node.set(k, new Map());
        node = node.get(k) as Tree;
      }
    });
  }
  return root;
}

/** What JSON.parse gives on the wanted paths: a path through a non-object value keeps that value whole. */
function project(v: unknown, t: Tree): Record<string, unknown> {
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, sub] of t) {
    if (!Object.hasOwn(o, k)) continue;
    const x = o[k];
    out[k] = sub !== null && typeof x === 'object' && x !== null && !Array.isArray(x) ? project(x, sub) : x;
  }
  return out;
}

const enc = new TextEncoder();

function pickInPieces(text: string, cuts: number[], maxBytes = 1 << 20): string | null {
  const bytes = enc.encode(text);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const p = new JsonStreamPick(PATHS, maxBytes);
  let prev = 0;
  for (const at of [...points, bytes.length]) {
    p.write(bytes.subarray(prev, at));
    prev = at;
  }
  return p.end();
}

test('property: on any JSON object text, in any pieces, the wanted paths are what JSON.parse gives (last duplicate wins)', () => {
  fc.assert(
    fc.property(objectText, fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
      const picked = pickInPieces(text, cuts);
      assert.ok(picked !== null, text);
      assert.deepEqual(project(JSON.parse(picked), tree(PATHS)), project(JSON.parse(text), tree(PATHS)));
    }),
    { numRuns: 1500 },
  );
});

test('property: the kept text never passes maxBytes; past it the answer is null, not a cut object', () => {
  fc.assert(
    fc.property(objectText, fc.integer({ min: 1, max: 64 }), (text, max) => {
      const picked = pickPaths(text, PATHS, max);
      if (picked !== null) {
        assert.ok(enc.encode(picked).length <= max);
        assert.doesNotThrow(() => JSON.parse(picked));
      }
    }),
    { numRuns: 500 },
  );
});

test('not a whole JSON object: null (an array, a cut text, trailing bytes, a broken literal)', () => {
  for (const bad of ['[1]', '"s"', '{"type":"a"', '{"type":"a"}x', '{"type":tr"ue}', '{"type" "a"}', '{"a":1,,}', '', '{"usage":{"a":1}']) {
    assert.equal(pickPaths(bad, PATHS, 1000), null, bad);
  }
});

test('an oversized message_start keeps its usage whatever holds the bulk, and only the wanted members', () => {
  const text = JSON.stringify({
    type: 'message_start',
    message: {
      id: 'msg_1',
      content: [{ type: 'text', text: 'x'.repeat(100_000) }],
      pad: { deep: [[[{ usage: 5 }]]] },
      usage: { input_tokens: 25 },
    },
  });
  assert.equal(pickPaths(text, PATHS, 200), '{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":25}}}');
});
