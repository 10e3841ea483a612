/** Which of the client's request headers reach the upstream (src/upstream/headers.ts), as exact objects. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { isHopByHop, ownCredential, upstreamRequestHeaders } from '../../../src/upstream/headers.ts';
import { credentialPolicy } from '../../../src/upstream/forward.ts';
import { CREDENTIAL_HEADERS } from '../../../src/compose/upstreams.ts';
import { HOP_BY_HOP } from '../../helpers/hop-by-hop.ts';

/** Every dialect's credential headers, as every forwarder strips them. */
const POLICY = credentialPolicy({ credentialHeaders: CREDENTIAL_HEADERS });
/** The client's own key, as identification chose it. */
const UPSTREAM = { credentials: POLICY, credential: { header: 'x-api-key', value: 'sk-client' } };
/** The proxy's own key, in the anthropic dialect's header. */
const INJECTED = { credentials: POLICY, credential: ownCredential('x-api-key', 'sk-upstream') };

/** What a client's SDK sends (Node lower-cases incoming names). */
const CLIENT: IncomingHttpHeaders = {
  'content-type': 'application/json',
  'content-length': '123',
  'anthropic-version': '2023-06-01',
  'anthropic-beta': 'prompt-caching-2024-07-31',
  'x-api-key': 'sk-client',
  'user-agent': 'Anthropic/JS 0.30.0',
  accept: 'application/json',
};

test('end-to-end headers pass unchanged, content-length included; the input is not modified', () => {
  const incoming = { ...CLIENT };
  const out = upstreamRequestHeaders(incoming, UPSTREAM);
  assert.deepEqual(out, CLIENT);
  assert.notEqual(out, incoming, 'a new object');
  assert.deepEqual(incoming, CLIENT);
});

test('hop-by-hop headers, host, expect and our own x-meter-* headers never leave the proxy', () => {
  const incoming: IncomingHttpHeaders = {
    ...CLIENT,
    ...Object.fromEntries(HOP_BY_HOP.map((h) => [h, h === 'connection' ? 'keep-alive' : 'x'])),
    host: 'localhost:8080',
    expect: '100-continue',
    'x-meter-tag': 'team-a',
    'x-meter-priority': 'low',
    'x-metered': 'not ours: no dash after meter',
  };
  assert.deepEqual(upstreamRequestHeaders(incoming, UPSTREAM), { ...CLIENT, 'x-metered': 'not ours: no dash after meter' });
});

test('headers named in Connection are dropped too, whatever their case and spacing', () => {
  const incoming: IncomingHttpHeaders = {
    ...CLIENT,
    connection: 'close,  X-Secret ,Anthropic-Beta',
    'x-secret': 'smuggled',
    'x-other': 'kept',
  };
  const { 'anthropic-beta': _beta, ...rest } = CLIENT;
  assert.deepEqual(upstreamRequestHeaders(incoming, UPSTREAM), { ...rest, 'x-other': 'kept' });
  // Without a Connection header nothing else is dropped.
  assert.deepEqual(upstreamRequestHeaders({ ...CLIENT, 'x-secret': 's' }, UPSTREAM), { ...CLIENT, 'x-secret': 's' });
});

test('method and URL override headers never leave the proxy: an upstream that honours one routes differently from what we metered', () => {
  const overrides = ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url'];
  const incoming: IncomingHttpHeaders = {
    ...CLIENT,
    ...Object.fromEntries(overrides.map((h) => [h, h.endsWith('url') ? '/v1/models' : 'GET'])),
  };
  assert.deepEqual(upstreamRequestHeaders(incoming, UPSTREAM), CLIENT);
  assert.deepEqual(upstreamRequestHeaders({ ...CLIENT, 'x-http-method-overrides': 'kept' }, UPSTREAM), {
    ...CLIENT,
    'x-http-method-overrides': 'kept',
  });
});

test('a credential header spelled with underscores (x_api_key, merged by CGI servers) is a credential: never forwarded beside the chosen one', () => {
  const incoming: IncomingHttpHeaders = { ...CLIENT, x_api_key: 'sk-other', 'x-api_key': 'sk-other', x_other_header: 'kept' };
  assert.deepEqual(upstreamRequestHeaders(incoming, UPSTREAM), { ...CLIENT, x_other_header: 'kept' });
  const { 'x-api-key': _key, ...withoutKey } = CLIENT;
  assert.deepEqual(upstreamRequestHeaders({ ...withoutKey, x_api_key: 'sk-client' }, UPSTREAM), CLIENT, 'sent under its real name');
  assert.deepEqual(upstreamRequestHeaders({ ...CLIENT, x_api_key: 'sk-client' }, INJECTED), {
    ...withoutKey,
    'x-api-key': 'sk-upstream',
  });
});

test('without an injected key exactly the chosen client credential is sent, whatever else the client sent', () => {
  const { 'x-api-key': _key, ...withoutKey } = CLIENT;
  const incoming: IncomingHttpHeaders = { ...CLIENT, 'x-api-key': 'sk-client, sk-client', authorization: 'Bearer sk-client' };
  assert.deepEqual(upstreamRequestHeaders(incoming, UPSTREAM), CLIENT);
  const bearer = { header: 'authorization', value: 'Bearer client-token' };
  assert.deepEqual(upstreamRequestHeaders({ ...withoutKey, authorization: 'Bearer client-token' }, { ...UPSTREAM, credential: bearer }), {
    ...withoutKey,
    authorization: 'Bearer client-token',
  });
  // No credential chosen: none is sent.
  assert.deepEqual(upstreamRequestHeaders(CLIENT, { ...UPSTREAM, credential: null }), withoutKey);
});

test('an injected upstream key replaces the client credentials: x-api-key is ours, authorization is dropped', () => {
  const opts = INJECTED;
  const { 'x-api-key': _key, ...withoutKey } = CLIENT;
  assert.deepEqual(upstreamRequestHeaders({ ...CLIENT, authorization: 'Bearer client-token' }, opts), {
    ...withoutKey,
    'x-api-key': 'sk-upstream',
  });
  // A client that sent no key at all gets ours too.
  assert.deepEqual(upstreamRequestHeaders(withoutKey, opts), { ...withoutKey, 'x-api-key': 'sk-upstream' });
  // Naming x-api-key in Connection does not strip the injected one.
  assert.deepEqual(upstreamRequestHeaders({ ...CLIENT, connection: 'x-api-key' }, opts), { ...withoutKey, 'x-api-key': 'sk-upstream' });
});

test('identity: accept-encoding is replaced by identity; otherwise the client value (or its absence) is kept', () => {
  const gz: IncomingHttpHeaders = { ...CLIENT, 'accept-encoding': 'gzip, br' };
  assert.deepEqual(upstreamRequestHeaders(gz, { ...UPSTREAM, identity: true }), { ...CLIENT, 'accept-encoding': 'identity' });
  assert.deepEqual(upstreamRequestHeaders(CLIENT, { ...UPSTREAM, identity: true }), { ...CLIENT, 'accept-encoding': 'identity' });
  assert.deepEqual(upstreamRequestHeaders(gz, { ...UPSTREAM, identity: false }), gz);
  assert.deepEqual(upstreamRequestHeaders(gz, UPSTREAM), gz);
  assert.deepEqual(upstreamRequestHeaders(CLIENT, UPSTREAM), CLIENT, 'no accept-encoding is added');
});

test('array values stay arrays; undefined values are skipped', () => {
  const incoming: IncomingHttpHeaders = { ...CLIENT, 'x-multi': ['a', 'b'], 'x-gone': undefined };
  const out = upstreamRequestHeaders(incoming, UPSTREAM);
  assert.deepEqual(out, { ...CLIENT, 'x-multi': ['a', 'b'] });
  assert.ok(!('x-gone' in out));
});

test('isHopByHop: exactly the RFC 9110 connection headers, by lower-case name', () => {
  for (const h of HOP_BY_HOP) assert.equal(isHopByHop(h), true, h);
  for (const h of ['content-length', 'content-type', 'host', 'x-api-key', 'authorization', 'set-cookie', 'Connection'])
    assert.equal(isHopByHop(h), false, h);
});

test('every dialect’s credential headers are stripped, whichever dialect the request speaks: only the one credential sent goes out', () => {
  const { 'x-api-key': _key, ...withoutKey } = CLIENT;
  const all = { ...CLIENT, authorization: 'Bearer sk-client', 'api-key': 'sk-azure', api_key: 'sk-azure-alias' };
  assert.deepEqual(upstreamRequestHeaders(all, INJECTED), { ...withoutKey, 'x-api-key': 'sk-upstream' });
  const bearer = { credentials: POLICY, credential: ownCredential('authorization', 'sk-upstream') };
  assert.deepEqual(upstreamRequestHeaders(all, bearer), { ...withoutKey, authorization: 'Bearer sk-upstream' });
  assert.deepEqual(upstreamRequestHeaders(all, { credentials: POLICY, credential: null }), withoutKey);
});

test('ownCredential: a bearer token in authorization, the bare key in any other header', () => {
  assert.deepEqual(ownCredential('authorization', 'sk-1'), { header: 'authorization', value: 'Bearer sk-1' });
  assert.deepEqual(ownCredential('x-api-key', 'sk-1'), { header: 'x-api-key', value: 'sk-1' });
  assert.deepEqual(ownCredential('api-key', 'sk-1'), { header: 'api-key', value: 'sk-1' });
});
