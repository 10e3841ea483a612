import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expand, interpolate } from '../../../src/config/interpolate.ts';
import { ConfigError } from '../../../src/config/errors.ts';

const env = { HOST: 'db', EMPTY: '', PORT: '6379' };

test('expand: references, defaults, escapes', () => {
  const cases: Array<[input: string, text: string, substituted: boolean]> = [
    ['plain', 'plain', false],
    ['', '', false],
    ['${HOST}', 'db', true],
    ['redis://${HOST}:${PORT}/0', 'redis://db:6379/0', true],
    ['${MISSING:-fallback}', 'fallback', true],
    ['${MISSING:-}', '', true],
    ['${EMPTY:-x}', 'x', true], // :- also covers set-but-empty
    ['${EMPTY}', '', true], // set to '' is set
    ['${HOST:-x}', 'db', true],
    ['${MISSING:-a:b/c d}', 'a:b/c d', true],
    ['$${HOST}', '${HOST}', false], // escape: literal, not a reference
    // Left to right: a lone '$', then the '$${' escape. (A literal '$' directly before a
    // reference cannot be written; put it in the variable or the default instead.)
    ['$$${HOST}', '$${HOST}', false],
    ['cost $5 or $HOST', 'cost $5 or $HOST', false], // $ without { is literal
    ['trailing $', 'trailing $', false],
    ['$${', '${', false],
  ];
  for (const [input, text, substituted] of cases) {
    assert.deepEqual(expand(input, env), { ok: true, text, substituted }, input);
  }
});

test('expand: malformed references are errors, never guesses', () => {
  const cases: Array<[string, string]> = [
    ['${MISSING}', 'environment variable MISSING is not set (use ${MISSING:-default} to make it optional)'],
    ['${HOST', "unterminated '${' in '${HOST'"],
    ['${}', "invalid reference '${}' (expected ${NAME} or ${NAME:-default})"],
    ['${1X}', "invalid reference '${1X}' (expected ${NAME} or ${NAME:-default})"],
    ['${HOST-x}', "invalid reference '${HOST-x}' (expected ${NAME} or ${NAME:-default})"],
    ['${A:-${B}}', "invalid reference '${A:-${B}' (expected ${NAME} or ${NAME:-default})"],
  ];
  for (const [input, reason] of cases) {
    assert.deepEqual(expand(input, env), { ok: false, reason }, input);
  }
});

test('interpolate: strings anywhere in the tree, keys untouched, other scalars as-is', () => {
  const tree = { a: { '${HOST}': '${HOST}', n: 5, b: true, z: null }, list: ['${PORT}', 'x'] };
  const r = interpolate(tree, env, 'f.yaml');
  assert.deepEqual(r.value, { a: { '${HOST}': 'db', n: 5, b: true, z: null }, list: ['6379', 'x'] });
  assert.deepEqual([...r.substituted].sort(), ['a["${HOST}"]', 'list[0]']);
  assert.deepEqual(tree.list, ['${PORT}', 'x'], 'input is not mutated');
});

test('interpolate: errors name the file and the key path', () => {
  assert.throws(
    () => interpolate({ budgets: [{ name: 'x' }, { name: '${NOPE}' }] }, env, '/c.yaml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message ===
        '/c.yaml: config error at budgets[1].name: environment variable NOPE is not set (use ${NOPE:-default} to make it optional)',
  );
});

test('interpolate: a __proto__ key stays a plain own key', () => {
  const tree: unknown = JSON.parse('{"__proto__": {"polluted": "${HOST}"}}');
  const r = interpolate(tree, env, null);
  assert.equal(Object.getPrototypeOf(r.value), Object.prototype);
  assert.deepEqual(Object.keys(r.value as object), ['__proto__']);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});
