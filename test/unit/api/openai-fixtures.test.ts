/**
 * Every OpenAI-format fixture through the tap gives its four counts exactly, under the semantics
 * its upstream is declared with and under `auto` with a fresh proof; and the proof ends where
 * the fixture's signature puts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { SemanticsProof } from '../../../src/api/openai/semantics.ts';
import { JSON_CASES, SSE_CASES, FILTER_PAIRS } from './openai-cases.ts';
import { dialect, fixture, JSON_HEADERS, runOpenAiTap } from './openai-helpers.ts';

test('every fixture has a case (or is a filter expectation)', () => {
  const files = readdirSync(new URL('../../fixtures/openai/', import.meta.url)).sort();
  const covered = [...JSON_CASES, ...SSE_CASES].map((c) => c.file).concat(FILTER_PAIRS.map(([, client]) => client));
  assert.deepEqual(files, [...covered, 'error-rate-limit.json'].sort());
});

test('the CRLF fixtures really are \\r\\n-terminated', () => {
  for (const f of ['openai-chat-crlf.sse', 'openai-chat-crlf.client.sse']) {
    const text = fixture(f).toString('latin1');
    assert.ok(text.includes('\r\n\r\n'));
    assert.ok(!/[^\r]\n/.test(text), f);
  }
});

for (const c of JSON_CASES) {
  test(`json ${c.file}: ${c.why}`, async () => {
    for (const semantics of [c.semantics, 'auto'] as const) {
      const proof = new SemanticsProof();
      const { outcome } = await runOpenAiTap({
        dialect: dialect(semantics, proof),
        path: c.path,
        headers: JSON_HEADERS,
        chunks: [fixture(c.file)],
      });
      assert.deepEqual(outcome, c.expected, semantics);
      if (semantics === 'auto') {
        assert.equal(proof.state.evidence, c.proves);
        assert.equal(proof.state.proven, c.proves !== null);
        assert.equal(proof.state.semantics, c.proves === null ? 'openai' : c.semantics);
      } else assert.equal(proof.state.proven, false, 'a declared semantics consults no proof');
    }
  });
}

for (const c of SSE_CASES) {
  test(`sse ${c.file}: ${c.why}`, async () => {
    for (const semantics of [c.semantics, 'auto'] as const) {
      const proof = new SemanticsProof();
      const { outcome, tap } = await runOpenAiTap({ dialect: dialect(semantics, proof), path: c.path, chunks: [fixture(c.file)] });
      assert.deepEqual(outcome, c.expected, semantics);
      assert.deepEqual([...tap.anomalies], []);
      if (semantics === 'auto') assert.equal(proof.state.evidence, c.proves);
    }
  });
}

test('the exclusive fixtures read the other way clamp their input at 0 and say why', async () => {
  for (const file of ['newapi-claude-chat.json', 'newapi-claude-chat.sse']) {
    const headers = file.endsWith('.json') ? JSON_HEADERS : undefined;
    const { outcome } = await runOpenAiTap({ dialect: dialect('openai'), chunks: [fixture(file)], ...(headers ? { headers } : {}) });
    assert.equal(outcome.usage?.input, 0, file);
    assert.equal(outcome.usage?.cacheRead, 16384);
    assert.equal(outcome.adjusted, 'cache_exceeds_prompt');
  }
});

test('an error body: its type, else its code', async () => {
  const { outcome } = await runOpenAiTap({
    dialect: dialect('auto'),
    status: 429,
    headers: JSON_HEADERS,
    chunks: [fixture('error-rate-limit.json')],
  });
  assert.equal(outcome.missingReason, 'error_status');
  assert.equal(outcome.errorType, 'tokens');
});
