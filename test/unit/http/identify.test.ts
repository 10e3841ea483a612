/** Identity is the credential the upstream receives (src/http/identify.ts), over header lines as Node parses them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { ANON, hashKey, identify, sanitizeTag, UNVERIFIED, type Access, type Identification } from '../../../src/http/identify.ts';

const REAL = 'sk-ant-api03-real-key-0000000000000000';
const OTHER = 'sk-ant-api03-throwaway-1111111111111111';

/** Header lines as a client sends them, and the merged object Node makes of them (authorization: first wins; others joined). */
function presented(lines: Array<[string, string]>): { headers: IncomingHttpHeaders; rawHeaders: string[] } {
  const headers: Record<string, string> = {};
  for (const [name, value] of lines) {
    const n = name.toLowerCase();
    if (headers[n] === undefined) headers[n] = value;
    else if (n !== 'authorization') headers[n] = `${headers[n]}, ${value}`;
  }
  return { headers, rawHeaders: lines.flat() };
}

const OPEN: Access = { injected: false, accepted: null };
const run = (lines: Array<[string, string]>, access: Access = OPEN): Identification => identify(presented(lines), anthropic, access);

function ok(id: Identification): Extract<Identification, { ok: true }> {
  assert.ok(id.ok, id.ok ? '' : id.error.message);
  return id;
}

function refused(id: Identification, status: number, type: string): void {
  assert.equal(id.ok, false);
  if (!id.ok) {
    assert.equal(id.error.status, status);
    assert.equal(id.error.type, type);
  }
}

test('one credential: its hash is the identity and it is the one forwarded; x-api-key and a bearer token name the same caller', () => {
  const byKey = ok(run([['x-api-key', REAL]]));
  assert.deepEqual(byKey.caller, { keyId: hashKey(REAL), tag: '' });
  assert.deepEqual(byKey.credential, { header: 'x-api-key', value: REAL });
  const byBearer = ok(run([['Authorization', `Bearer ${REAL}`]]));
  assert.equal(byBearer.caller.keyId, hashKey(REAL));
  assert.deepEqual(byBearer.credential, { header: 'authorization', value: `Bearer ${REAL}` });
  assert.equal(ok(run([['X-API-KEY', REAL]])).caller.keyId, hashKey(REAL), 'header names in any case');
});

test('no credential, or an empty one: anon, nothing forwarded', () => {
  assert.deepEqual(ok(run([])), { ok: true, caller: { keyId: ANON, tag: '' }, credential: null });
  assert.equal(ok(run([['x-api-key', '']])).caller.keyId, ANON);
});

test('another authorization scheme is a credential too, hashed whole', () => {
  const id = ok(run([['authorization', 'Basic dXNlcjpwYXNz']]));
  assert.equal(id.caller.keyId, hashKey('Basic dXNlcjpwYXNz'));
});

test('two different credentials are refused with a 400, whichever way they are sent', () => {
  refused(
    run([
      ['x-api-key', OTHER],
      ['authorization', `Bearer ${REAL}`],
    ]),
    400,
    'invalid_request_error',
  );
  refused(
    run([
      ['x-api-key', REAL],
      ['X-Api-Key', OTHER],
    ]),
    400,
    'invalid_request_error',
  );
  refused(
    run([
      ['authorization', `Bearer ${REAL}`],
      ['Authorization', `Bearer ${OTHER}`],
    ]),
    400,
    'invalid_request_error',
  );
  refused(run([['x-api-key', `${REAL}, ${OTHER}`]]), 400, 'invalid_request_error');
  refused(
    run([
      ['x-api-key', REAL],
      ['authorization', 'Basic abc'],
    ]),
    400,
    'invalid_request_error',
  );
});

test('the same credential twice is one: accepted, forwarded once, by the dialect preference', () => {
  for (const lines of [
    [
      ['x-api-key', REAL],
      ['x-api-key', REAL],
    ],
    [['x-api-key', `${REAL}, ${REAL}`]],
    [
      ['authorization', `Bearer ${REAL}`],
      ['x-api-key', REAL],
    ],
  ] as Array<Array<[string, string]>>) {
    const id = ok(run(lines));
    assert.equal(id.caller.keyId, hashKey(REAL));
    assert.deepEqual(id.credential, { header: 'x-api-key', value: REAL });
  }
});

test('a credential header named in Connection is not forwarded, so it names nobody (the walk-around of issue 17)', () => {
  const id = ok(
    run([
      ['authorization', `Bearer ${REAL}`],
      ['x-api-key', OTHER],
      ['connection', 'x-api-key'],
    ]),
  );
  assert.equal(id.caller.keyId, hashKey(REAL), 'metered as the key the upstream receives');
  assert.deepEqual(id.credential, { header: 'authorization', value: `Bearer ${REAL}` });
  // Named in a later Connection line, in another case.
  const later = ok(
    run([
      ['x-api-key', OTHER],
      ['Connection', 'keep-alive'],
      ['Connection', 'X-Api-Key'],
    ]),
  );
  assert.deepEqual(later, { ok: true, caller: { keyId: ANON, tag: '' }, credential: null });
});

test('x_api_key (underscores, as CGI and WSGI servers merge them) is the credential it aliases: identified, refused beside another, forwarded by its real name', () => {
  const alone = ok(run([['x_api_key', REAL]]));
  assert.deepEqual(alone, { ok: true, caller: { keyId: hashKey(REAL), tag: '' }, credential: { header: 'x-api-key', value: REAL } });
  assert.equal(ok(run([['X_Api-Key', REAL]])).caller.keyId, hashKey(REAL), 'any case, any mix');
  refused(
    run([
      ['x-api-key', OTHER],
      ['x_api_key', REAL],
    ]),
    400,
    'invalid_request_error',
  );
  const same = ok(
    run([
      ['x_api_key', REAL],
      ['x-api-key', REAL],
    ]),
  );
  assert.deepEqual(same.credential, { header: 'x-api-key', value: REAL });
  // Named in Connection, the alias is not forwarded, so it names nobody.
  assert.equal(
    ok(
      run([
        ['x_api_key', OTHER],
        ['connection', 'x_api_key'],
      ]),
    ).caller.keyId,
    ANON,
  );
});

test('the proxy sends its own key: without a list a client key is unverified, and never forwarded', () => {
  const injected: Access = { injected: true, accepted: null };
  assert.deepEqual(ok(run([['x-api-key', REAL]], injected)), { ok: true, caller: { keyId: UNVERIFIED, tag: '' }, credential: null });
  assert.equal(ok(run([], injected)).caller.keyId, ANON);
  refused(
    run(
      [
        ['x-api-key', REAL],
        ['authorization', `Bearer ${OTHER}`],
      ],
      injected,
    ),
    400,
    'invalid_request_error',
  );
});

test('with a list of accepted key ids, a listed key is the identity; an unlisted or missing one gets a 401', () => {
  for (const injected of [true, false]) {
    const access: Access = { injected, accepted: new Set([hashKey(REAL)]) };
    const id = ok(run([['authorization', `Bearer ${REAL}`]], access));
    assert.equal(id.caller.keyId, hashKey(REAL));
    assert.deepEqual(id.credential, injected ? null : { header: 'authorization', value: `Bearer ${REAL}` });
    refused(run([['x-api-key', OTHER]], access), 401, 'authentication_error');
    refused(run([], access), 401, 'authentication_error');
  }
});

test('the tag is read and sanitised', () => {
  assert.equal(ok(run([['x-meter-tag', ' team a ']])).caller.tag, 'team_a');
  assert.equal(sanitizeTag('x'.repeat(100)).length, 64);
  assert.equal(sanitizeTag(undefined), '');
});
