/**
 * BatchScan (src/api/anthropic/batch-scan.ts) against JSON.parse, the reference: random batch
 * bodies built member by member (duplicate keys, escaped keys, any whitespace, unicode, decoys
 * that spell our keys elsewhere) fed in pieces cut anywhere (inside escapes and multibyte
 * characters too), random garbage and mutated bodies (never a throw; readable exactly when
 * JSON.parse reads a batch), and the caps that bound memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bounded } from '../../../src/core/bound.ts';
import { BatchScan, MAX_DEPTH, scanBatch, type BatchScanResult } from '../../../src/api/anthropic/batch-scan.ts';

const ws = fc.constantFrom('', '', ' ', '\n', '\t', '\r\n  ');
const anyKey = fc.oneof(
  fc.constantFrom('custom_id', 'messages', 'system', 'Model', 'model ', 'requests', 'params', 'model', 'max_tokens', '__proto__'),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
/** Values that are no concern of the scan, decoys included: our keys inside strings and nested objects. */
const anyValue = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  fc.constant({ requests: [{ params: { model: 'decoy', max_tokens: 1 } }] }),
  fc.constant('"model":"decoy","max_tokens":9}]}'),
  fc.constant([{ model: 'x' }, ['}', ']', '{', '[', '\\', '"']]),
);
const modelValue = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1') },
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constant('m'.repeat(300)), // bounded
  anyValue,
);
const maxTokensValue = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 64_000 }) },
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('1024', null, true, [1], -0, 1e308),
  anyValue,
);

/** The parts the scan reads, tagged by class so no random JSON value passes for one. */
class Params {
  constructor(readonly members: Member[]) {}
}
class Element {
  constructor(readonly members: Member[]) {}
}
class Requests {
  constructor(readonly elements: unknown[]) {}
}

interface Member {
  key: string;
  escaped: boolean;
  ws: string;
  value: unknown;
}
const member = (key: fc.Arbitrary<string>, value: fc.Arbitrary<unknown>) => fc.record({ key, escaped: fc.boolean(), ws, value });

const paramsObj = fc.array(
  fc.oneof(member(fc.constant('model'), modelValue), member(fc.constant('max_tokens'), maxTokensValue), member(anyKey, anyValue)),
  { maxLength: 6 },
);
/** An element: usually an object whose members include `params`; sometimes not an object. */
const element = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(
        member(
          fc.constant('params'),
          paramsObj.map((m) => new Params(m)),
        ),
        fc.array(
          fc.oneof(
            member(
              fc.constant('params'),
              paramsObj.map((m) => new Params(m)),
            ),
            member(anyKey, anyValue),
          ),
          { maxLength: 3 },
        ),
        fc.nat(),
      )
      .map(([params, others, at]) => new Element(others.toSpliced(at % (others.length + 1), 0, params))),
  },
  anyValue,
);
const requestsArr = fc.array(element, { maxLength: 6 }).map((e) => new Requests(e));
const root = fc
  .tuple(
    member(fc.constant('requests'), requestsArr),
    fc.array(fc.oneof(member(fc.constant('requests'), requestsArr), member(anyKey, anyValue)), { maxLength: 3 }),
    fc.nat(),
  )
  .map(([requests, others, at]) => others.toSpliced(at % (others.length + 1), 0, requests));

function keyText(m: Member): string {
  const k = m.key;
  if (!m.escaped || k.length === 0) return JSON.stringify(k);
  return `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(k.slice(1)).slice(1, -1)}"`;
}

/** What the scan must find, known while the text is written: the byte size of each winning params object, and whether something is named twice. */
interface Known {
  paramsBytes: number[] | null; // of the last `requests` array
  conflict: boolean;
}

function render(members: Member[], known: Known, pad: string): string {
  let requestsSeen = 0;
  const parts = members.map((m) => {
    let v: string;
    const spec = m.value;
    if (m.key === 'requests' && spec instanceof Requests) {
      requestsSeen++;
      const sizes: number[] = [];
      v = `[${spec.elements.map((e) => `${m.ws}${renderElement(e, sizes, known)}${m.ws}`).join(',')}]`;
      known.paramsBytes = sizes;
    } else {
      if (m.key === 'requests') requestsSeen++;
      if (m.key === 'requests') known.paramsBytes = null;
      v = JSON.stringify(m.value, null, m.ws.length > 1 ? 2 : undefined);
    }
    return `${m.ws}${keyText(m)}${m.ws}:${m.ws}${v}${m.ws}`;
  });
  if (requestsSeen > 1) known.conflict = true;
  return `${pad}{${parts.join(',')}}${pad}`;
}

function renderElement(e: unknown, sizes: number[], known: Known): string {
  if (!(e instanceof Element)) return JSON.stringify(e);
  let size = -1;
  let named = 0;
  const parts = e.members.map((m) => {
    let v: string;
    if (m.key === 'params' && m.value instanceof Params) {
      v = renderParams(m.value.members, known);
    } else v = JSON.stringify(m.value);
    if (m.key === 'params') {
      named++;
      size = Buffer.byteLength(v);
    }
    return `${m.ws}${keyText(m)}${m.ws}:${m.ws}${v}`;
  });
  if (named > 1) known.conflict = true;
  sizes.push(size);
  return `{${parts.join(',')}}`;
}

function renderParams(members: Member[], known: Known): string {
  const models = members.filter((m) => m.key === 'model').map((m) => m.value);
  if (models.length > 1 && (models.some((v) => typeof v !== 'string') || new Set(models).size > 1)) known.conflict = true;
  return `{${members.map((m) => `${m.ws}${keyText(m)}${m.ws}:${m.ws}${JSON.stringify(m.value)}`).join(',')}}`;
}

const batch = fc.tuple(root, ws, fc.boolean()).map(([members, pad, bom]) => {
  const known: Known = { paramsBytes: null, conflict: false };
  const text = render(members, known, pad);
  return { text: bom ? `\ufeff${text}` : text, known };
});

/** What JSON.parse gives, in the scan's terms (byte sizes from what the text was written of, when known). */
function reference(bytes: Buffer, sizes: number[] | null): Omit<BatchScanResult, 'conflict' | 'reason'> {
  const unreadable = { readable: false, requests: 0, tooMany: false, groups: [] };
  let v: unknown;
  try {
    const text = bytes.toString('utf8');
    v = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    return unreadable;
  }
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(v) || !Array.isArray(v['requests'])) return unreadable;
  const reqs = v['requests'] as unknown[];
  if (!reqs.every((e) => isObj(e) && isObj(e['params']))) return unreadable;
  const groups = new Map<string, BatchScanResult['groups'][number]>();
  reqs.forEach((e, i) => {
    const p = (e as Record<string, Record<string, unknown>>)['params'] as Record<string, unknown>;
    const model = typeof p['model'] === 'string' ? bounded(p['model']) : null;
    const mt = p['max_tokens'];
    const maxTokens = typeof mt === 'number' && Number.isFinite(mt) ? mt : null;
    const key = `${model === null ? '' : `=${model}`}\u0000${maxTokens}`;
    const g = groups.get(key) ?? { model, maxTokens, count: 0, bytes: 0 };
    g.count++;
    g.bytes += sizes === null ? Number.NaN : (sizes[i] as number);
    groups.set(key, g);
  });
  return { readable: true, requests: reqs.length, tooMany: false, groups: [...groups.values()] };
}

function scanInPieces(bytes: Uint8Array, cuts: number[]): BatchScanResult {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const s = new BatchScan();
  let prev = 0;
  for (const at of [...points, bytes.length]) {
    s.push(bytes.subarray(prev, at));
    prev = at;
  }
  return s.end();
}

const withoutBytes = (r: { readable: boolean; requests: number; groups: BatchScanResult['groups'] }) => ({
  readable: r.readable,
  requests: r.requests,
  groups: r.groups.map((g) => ({ ...g, bytes: 0 })),
});

test('property: a batch body in any pieces gives what JSON.parse gives: models, max_tokens, params sizes, the last duplicate winning', () => {
  let readable = 0;
  fc.assert(
    fc.property(batch, fc.array(fc.nat(), { maxLength: 12 }), ({ text, known }, cuts) => {
      const bytes = Buffer.from(text);
      const got = scanInPieces(bytes, cuts);
      const want = reference(bytes, known.paramsBytes);
      assert.deepEqual({ readable: got.readable, requests: got.requests, tooMany: got.tooMany, groups: got.groups }, want, text);
      if (got.readable) {
        readable++;
        assert.equal(got.conflict !== null, known.conflict, text);
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(readable > 1000, `only ${readable} readable bodies generated`); // the generator must mostly make batches
});

test('property: garbage and mutated bodies never throw, and are readable exactly when JSON.parse reads a batch', () => {
  const mutated = fc
    .tuple(
      batch,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), {
        minLength: 1,
        maxLength: 3,
      }),
    )
    .map(([{ text }, edits]) => {
      const b = [...Buffer.from(text)];
      for (const [at, byte, op] of edits) {
        const i = at % (b.length + 1);
        if (op === 'insert') b.splice(i, 0, byte);
        else if (op === 'delete') b.splice(i, 1);
        else if (i < b.length) b[i] = byte;
      }
      return Uint8Array.from(b);
    });
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ unit: fc.constantFrom(...'{}[]":,\\ u0123456789-+.eEtruefalsn\n'), maxLength: 60 }).map((s) => Buffer.from(s)),
    mutated,
  );
  fc.assert(
    fc.property(garbage, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
      const got = scanInPieces(bytes, cuts);
      const want = reference(Buffer.from(bytes), null);
      assert.deepEqual(withoutBytes(got), withoutBytes(want), Buffer.from(bytes).toString('latin1'));
      if (!got.readable) assert.ok(got.reason !== null);
    }),
    { numRuns: 3000 },
  );
});

test('every JSON scalar spelling JSON.parse takes or refuses, as a max_tokens and elsewhere', () => {
  const spellings = [
    '0',
    '-0',
    '1',
    '-1',
    '1024',
    '1.5',
    '1e3',
    '1E+3',
    '2e-2',
    '-0.0e0',
    '01',
    '1.',
    '.5',
    '-',
    '+1',
    '1e',
    '1e+',
    '0x10',
    'Infinity',
    'NaN',
    'true',
    'false',
    'null',
    'tru',
    'nul',
    'truex',
    '"a\\u00e9"',
    '"\\x"',
    '"\\u12"',
    '"a\tb"',
    '"\\/"',
    '1e999',
    '-1e999',
  ];
  for (const s of spellings) {
    for (const text of [
      `{"requests":[{"params":{"max_tokens":${s}}}]}`,
      `{"requests":[{"params":{"x":[${s}]}}]}`,
      `{"a":${s},"requests":[]}`,
    ]) {
      const bytes = Buffer.from(text);
      assert.deepEqual(withoutBytes(scanBatch(bytes)), withoutBytes(reference(bytes, null)), text);
    }
  }
});

test('a body split at every byte reads the same as whole: escapes, multibyte characters, a BOM', () => {
  const text =
    '\ufeff {"requests" : [ {"custom_id":"é\\n", "params":{"mo\\u0064el":"claude-\\u00e9😀","max_tokens":1.5e3,"messages":[{"content":"日本\\"語\\\\"}]}} ]}\n';
  const bytes = Buffer.from(text);
  const whole = scanBatch(bytes);
  assert.equal(whole.readable, true);
  assert.deepEqual(whole.groups, [
    {
      model: 'claude-é😀',
      maxTokens: 1500,
      count: 1,
      bytes: Buffer.byteLength(text.slice(text.indexOf('{"mo'), text.indexOf('}}') + 2)) - 1,
    },
  ]);
  for (let at = 0; at <= bytes.length; at++) assert.deepEqual(scanInPieces(bytes, [at]), whole, `split at ${at}`);
  for (let at = 0; at < bytes.length; at++) assert.deepEqual(scanInPieces(bytes, [...Array(bytes.length).keys()].slice(at)), whole);
});

test('invalid UTF-8 inside a string is what toString makes of it (U+FFFD), as upstreams read it', () => {
  const body = Buffer.concat([
    Buffer.from('{"requests":[{"params":{"model":"a'),
    Buffer.from([0xff, 0xc3]),
    Buffer.from('","max_tokens":5}}]}'),
  ]);
  const params = body.length - body.indexOf('{"model"') - '}]}'.length;
  assert.deepEqual(scanBatch(body).groups, [{ model: 'a\ufffd\ufffd', maxTokens: 5, count: 1, bytes: params }]);
  assert.equal(scanBatch(Buffer.from([0x7b, 0xff, 0x7d])).readable, false); // outside a string it is not JSON
});

test('named twice: requests and params always (too large to compare), model only with different values', () => {
  const one = (p: string) => scanBatch(Buffer.from(`{"requests":[{"params":{${p}}}]}`)).conflict;
  assert.equal(one('"model":"a","model":"a"'), null);
  assert.equal(one('"model":"a","mod\\u0065l":"b"'), 'model');
  assert.equal(one('"model":1,"model":1'), 'model');
  assert.equal(one('"max_tokens":1,"max_tokens":2'), null); // the last wins, as in JSON.parse (a budget input, not a price)
  assert.equal(scanBatch(Buffer.from('{"requests":[{"params":{},"params":{}}]}')).conflict, 'params');
  const twice = scanBatch(Buffer.from('{"requests":[{"params":{"model":"a"}}],"requests":[{"params":{"model":"b"}}]}'));
  assert.equal(twice.conflict, 'requests');
  assert.deepEqual(
    twice.groups.map((g) => g.model),
    ['b'],
  );
});

test('the caps that bound memory: requests and models kept, nesting, the kept texts', () => {
  const reqs = (n: number, model: (i: number) => string) =>
    Buffer.from(
      JSON.stringify({
        requests: Array.from({ length: n }, (_, i) => ({ custom_id: `${i}`, params: { model: model(i), max_tokens: 8 } })),
      }),
    );
  const many = scanBatch(
    reqs(12, () => 'm'),
    { maxRequests: 10 },
  );
  assert.deepEqual([many.readable, many.requests, many.tooMany, many.groups[0]?.count], [true, 12, true, 10]);
  const models = scanBatch(
    reqs(6, (i) => `m${i}`),
    { maxModels: 4 },
  );
  assert.deepEqual([models.tooMany, models.groups.length], [true, 4]);
  assert.equal(
    scanBatch(
      reqs(10, () => 'm'),
      { maxRequests: 10 },
    ).tooMany,
    false,
  );
  const perTokens = Buffer.from(JSON.stringify({ requests: [1, 2, 3, 4].map((k) => ({ params: { model: 'm', max_tokens: k } })) }));
  const tokens = scanBatch(perTokens, { maxGroups: 3 });
  assert.deepEqual([tokens.tooMany, tokens.groups.length, tokens.requests], [true, 3, 4]);

  const deep = (d: number) => Buffer.from(`{"requests":[],"x":${'['.repeat(d)}${']'.repeat(d)}}`);
  assert.equal(scanBatch(deep(MAX_DEPTH - 1)).readable, true);
  assert.equal(scanBatch(deep(MAX_DEPTH)).reason, 'deep');

  // A long model is refused, not cut: no real model is named by 2 KiB; a long value elsewhere costs nothing.
  assert.equal(scanBatch(reqs(1, () => 'm'.repeat(3000))).reason, 'long');
  assert.equal(scanBatch(Buffer.from(`{"requests":[{"params":{"max_tokens":1${'0'.repeat(100)}}}]}`)).reason, 'long');
  assert.equal(new BatchScan().cut().reason, 'oversized'); // a read that stopped at max_batch_body_bytes
  const longKey = scanBatch(Buffer.from(`{"requests":[{"params":{"${'k'.repeat(100)}":1,"model":"m"}}]}`));
  assert.equal(longKey.groups[0]?.model, 'm');
});

test('a 32 MiB string is scanned in pieces without being kept', () => {
  const s = new BatchScan();
  s.push(Buffer.from('{"requests":[{"custom_id":"a","params":{"model":"m","messages":[{"content":"'));
  const piece = Buffer.alloc(1024 * 1024, 'abc\\"def');
  for (let k = 0; k < 32; k++) s.push(piece);
  s.push(Buffer.from('"}]}}]}'));
  const r = s.end();
  assert.equal(r.readable, true);
  assert.equal(r.groups[0]?.bytes, 32 * 1024 * 1024 + 2 + '{"model":"m","messages":[{"content":"'.length + '"}]}'.length - 2);
});
