import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineJoiner } from '../../../src/workers/lines.ts';

test('whole lines only: a chunk cut mid-line waits for its end; many lines pass as one write', () => {
  const j = new LineJoiner();
  assert.equal(j.push('{"a":1}\n{"b":'), '{"a":1}\n');
  assert.equal(j.push('2'), '');
  assert.equal(j.push('}\n{"c":3}\n{"d":4}\n'), '{"b":2}\n{"c":3}\n{"d":4}\n');
  assert.equal(j.end(), '');
});

test('a last line without its newline is given one at the end of the stream', () => {
  const j = new LineJoiner();
  assert.equal(j.push('fatal: boom'), '');
  assert.equal(j.end(), 'fatal: boom\n');
  assert.equal(j.end(), '');
});

test('any cut of a stream of lines gives back exactly those lines, each once', () => {
  const text = Array.from({ length: 50 }, (_, i) => `{"n":${i},"msg":"${'x'.repeat(i % 7)}"}\n`).join('');
  for (const size of [1, 3, 7, 64, 1000]) {
    const j = new LineJoiner();
    let out = '';
    for (let i = 0; i < text.length; i += size) {
      const got = j.push(text.slice(i, i + size));
      assert.ok(got === '' || got.endsWith('\n'), 'only whole lines');
      out += got;
    }
    out += j.end();
    assert.equal(out, text, `chunks of ${size}`);
  }
});
