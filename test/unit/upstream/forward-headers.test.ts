/** The upstream's raw response headers → the client's header object (forward.ts), against undici's own parseHeaders. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { util } from 'undici';
import { clientHeaders } from '../../../src/upstream/forward.ts';
import { HOP_BY_HOP } from '../../helpers/hop-by-hop.ts';

const raw = (...pairs: string[]) => pairs.map((s) => Buffer.from(s, 'latin1'));

test('names are lower-cased, repeats become arrays in order, hop-by-hop headers are left out', () => {
  const h = clientHeaders(
    raw(
      'Content-Type',
      'application/json',
      'Set-Cookie',
      'a=1',
      'Connection',
      'keep-alive',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'set-cookie',
      'b=2',
      'request-id',
      'req_1',
      'Upgrade',
      'h2c',
      'Trailer',
      'x',
    ),
  );
  assert.deepEqual({ ...h }, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'request-id': 'req_1' });
});

test('headers the upstream names in its Connection header are left out too (RFC 9110 §7.6.1), in any case and any line', () => {
  const h = clientHeaders(
    raw(
      'Connection',
      'close, X-Upstream-Secret',
      'x-upstream-secret',
      's',
      'X-Kept',
      'k',
      'connection',
      ' Set-Cookie ',
      'Set-Cookie',
      'a=1',
    ),
  );
  assert.deepEqual({ ...h }, { 'x-kept': 'k' });
  // The usual keep-alive value names nothing else.
  assert.deepEqual({ ...clientHeaders(raw('Connection', 'keep-alive', 'x-kept', 'k')) }, { 'x-kept': 'k' });
});

test('a header named __proto__ or constructor is a plain field, never the prototype', () => {
  const h = clientHeaders(raw('__proto__', 'x', 'constructor', 'y', 'toString', 'z', 'toString', 'w'));
  assert.equal(Object.getPrototypeOf(h), Object.prototype);
  assert.deepEqual(Object.keys(h), ['__proto__', 'constructor', 'tostring']);
  assert.equal(Object.getOwnPropertyDescriptor(h, '__proto__')?.value, 'x');
  assert.equal(h['constructor' as never], 'y');
  assert.deepEqual(h['tostring' as never], ['z', 'w']);
});

test('values are latin1, byte for byte (obs-text survives)', () => {
  const h = clientHeaders([Buffer.from('x-odd'), Buffer.from([0x61, 0xe9, 0xff])]);
  assert.equal(h['x-odd'], 'a\u00e9\u00ff');
});

test('property: equals undici parseHeaders minus the hop-by-hop names and those Connection names', () => {
  const name = fc.oneof(
    fc.constantFrom(
      'content-type',
      'Content-Type',
      'set-cookie',
      'request-id',
      'X-Thing',
      'content-encoding',
      ...HOP_BY_HOP,
      'TE',
      'Connection',
    ),
    fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/),
  );
  const value = fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b.filter((x) => x !== 0x0d && x !== 0x0a)));
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 20 }), (pairs) => {
      const flat = pairs.flatMap(([n, v]) => [Buffer.from(n, 'latin1'), v]);
      const want = util.parseHeaders(flat) as Record<string, unknown>;
      const named = pairs
        .filter(([n]) => n.toLowerCase() === 'connection')
        .flatMap(([, v]) => v.toString('latin1').split(','))
        .map((n) => n.trim().toLowerCase());
      for (const h of [...HOP_BY_HOP, ...named]) delete want[h];
      assert.deepEqual({ ...clientHeaders(flat) }, { ...want });
    }),
  );
});
