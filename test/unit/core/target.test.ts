/** The canonical request target (src/core/target.ts): every form, every normalization, every refusal, and properties over random paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTarget, type Target } from '../../../src/core/target.ts';

const path = (p: string, query = ''): Target => ({ kind: 'path', path: p, query });

/** Target → canonical path and query; the same path for every spelling of one resource. */
const CANONICAL: ReadonlyArray<[string, Target]> = [
  ['/v1/messages', path('/v1/messages')],
  ['/v1/messages?beta=true', path('/v1/messages', '?beta=true')],
  ['/', path('/')],
  ['/v1/messages/', path('/v1/messages/')],
  // Escapes of unreserved characters are decoded, whatever the case of their hex.
  ['/v1/%6dessages', path('/v1/messages')],
  ['/v1/%6Dessages', path('/v1/messages')],
  ['/%76%31/%6D%65%73%73%61%67%65%73', path('/v1/messages')],
  ['/v1/a%7e%2D%5f', path('/v1/a~-_')],
  // Other escapes stay, upper-cased; raw characters a URI may not hold are escaped.
  ['/v1/a%20b%3a%40', path('/v1/a%20b%3A%40')],
  ['/v1/a|b"c{d}', path('/v1/a%7Cb%22c%7Bd%7D')],
  ['/v1/%c3%a9t%C3%A9', path('/v1/%C3%A9t%C3%A9')],
  ['/v1/%f0%9f%98%80', path('/v1/%F0%9F%98%80')],
  // Dot segments, raw or escaped, are removed after decoding; above the root stays at the root.
  ['/v1/./messages', path('/v1/messages')],
  ['/v1/%2e/messages', path('/v1/messages')],
  ['/v1/%2E/messages', path('/v1/messages')],
  ['/v1/x/../messages', path('/v1/messages')],
  ['/v1/x/%2e%2e/messages', path('/v1/messages')],
  ['/v1/x/.%2E/messages', path('/v1/messages')],
  ['/../v1/messages', path('/v1/messages')],
  ['/v1/messages/.', path('/v1/messages/')],
  ['/v1/messages/x/..', path('/v1/messages/')],
  ['/..', path('/')],
  // Segments that merely contain dots are names.
  ['/v1/.hidden/..foo/a.b', path('/v1/.hidden/..foo/a.b')],
  // Empty segments are collapsed.
  ['//v1//messages', path('/v1/messages')],
  ['/v1/messages//', path('/v1/messages/')],
  // Absolute form: the path and query only, the authority ignored; no path is '/'.
  ['http://evil.example/v1/messages?x=1', path('/v1/messages', '?x=1')],
  ['HTTPS://user:pw@h:8443/v1/./messages', path('/v1/messages')],
  ['http://h', path('/')],
  ['http://h?q=1', path('/', '?q=1')],
  // The query is kept byte for byte, escapes and all.
  ['/v1/messages?api_key=sk-ant-x&a=%2F%zz', path('/v1/messages', '?api_key=sk-ant-x&a=%2F%zz')],
];

for (const [raw, want] of CANONICAL) {
  test(`canonical: ${raw}`, () => {
    assert.deepEqual(parseTarget(raw), want);
  });
}

/** Targets refused, with a word of the reason. */
const REFUSED: ReadonlyArray<[string, RegExp]> = [
  ['/v1/%2Fmessages', /encoded slash/],
  ['/v1/%2fmessages', /encoded slash/],
  ['/v1/%2e%2e%2f', /encoded slash/],
  ['/v1/%5cmessages', /encoded backslash/],
  ['/v1/%5C', /encoded backslash/],
  ['/v1\\messages', /backslash/],
  ['/v1/messages;x=1', /semicolon/],
  ['/v1/%3Bx', /encoded semicolon/],
  ['/v1/messages%3Fx', /encoded question mark/],
  ['/v1/messages%23x', /encoded number sign/],
  ['/v1/%256dessages', /encoded percent sign/],
  ['/v1/%00', /control/],
  ['/v1/%0a', /control/],
  ['/v1/%7F', /control/],
  ['/v1/\u0001', /control/],
  ['/v1/é', /non-ASCII/],
  ['/v1/%zz', /invalid percent-encoding/],
  ['/v1/%4', /invalid percent-encoding/],
  ['/v1/%', /invalid percent-encoding/],
  ['/v1/%c0%af', /not valid UTF-8/],
  ['/v1/%e0%80%ae', /not valid UTF-8/],
  ['/v1/%ed%a0%80', /not valid UTF-8/],
  ['/v1/%c3', /not valid UTF-8/],
  ['/v1/%c3x', /not valid UTF-8/],
  ['/v1/%e9', /not valid UTF-8/],
  ['/v1/messages#frag', /fragment/],
  ['/v1/messages?a#b', /fragment/],
  ['http://h#f', /fragment/],
  ['host:443', /origin form/],
  ['ftp://h/v1/messages', /origin form/],
  ['v1/messages', /origin form/],
  ['', /origin form/],
];

for (const [raw, reason] of REFUSED) {
  test(`refused: ${JSON.stringify(raw)}`, () => {
    const t = parseTarget(raw);
    assert.equal(t.kind, 'refused');
    assert.match(t.kind === 'refused' ? t.reason : '', reason);
  });
}

test('asterisk form: its own kind, for the caller to answer', () => {
  assert.deepEqual(parseTarget('*'), { kind: 'asterisk' });
});

test('the common target is returned as the same string, unsliced', () => {
  const raw = '/v1/messages';
  const t = parseTarget(raw);
  assert.ok(t.kind === 'path' && Object.is(t.path, raw) && t.query === '');
});

/** Paths from the characters that matter: escapes of every kind, dots, slashes, delimiters. */
const pieces = fc.constantFrom(
  '/',
  '//',
  '.',
  '..',
  'v1',
  'messages',
  'a',
  '~',
  '-',
  '%2e',
  '%2E',
  '%6d',
  '%41',
  '%20',
  '%3a',
  '%c3%a9',
  '%C3',
  '%2F',
  '%zz',
  ';',
  '\\',
  '|',
  ':',
  '@',
  '!',
);
const rawPath = fc.array(pieces, { maxLength: 12 }).map((p) => `/${p.join('')}`);

test('property: a canonical path is a fixed point, starts with /, and has no //, dot segment or lower-case escape', () => {
  fc.assert(
    fc.property(rawPath, (raw) => {
      const t = parseTarget(raw);
      if (t.kind !== 'path') return;
      assert.deepEqual(parseTarget(t.path), t, 'parsing the canonical path again changes nothing');
      assert.ok(t.path.startsWith('/'));
      assert.ok(!t.path.includes('//'));
      assert.ok(!t.path.split('/').some((s) => s === '.' || s === '..'));
      assert.ok(!/%[0-9A-F]?[a-f]/.test(t.path));
    }),
    { numRuns: 2000 },
  );
});

test('property: the fast path answers what the slow path answers (a trailing /. forces the slow path)', () => {
  fc.assert(
    fc.property(rawPath, (raw) => {
      const fast = parseTarget(raw);
      const slow = parseTarget(`${raw}/.`);
      if (fast.kind !== 'path') return assert.equal(slow.kind, 'refused');
      assert.equal(slow.kind, 'path');
      if (slow.kind === 'path') assert.equal(slow.path, fast.path.endsWith('/') ? fast.path : `${fast.path}/`);
    }),
    { numRuns: 2000 },
  );
});

test('property: the absolute form means its path, whatever the authority', () => {
  fc.assert(
    fc.property(rawPath, fc.domain(), (raw, host) => {
      assert.deepEqual(parseTarget(`http://${host}${raw}`), parseTarget(raw));
    }),
    { numRuns: 500 },
  );
});
