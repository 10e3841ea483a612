/** The request facts metering and budgets read from a Messages body. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestFacts } from '../../../src/api/anthropic/request.ts';

test('a leading UTF-8 byte order mark does not hide the model, in a small body or a large one', () => {
  for (const pad of [0, 5000]) {
    const json = JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      stream: true,
      messages: [{ role: 'user', content: 'x'.repeat(pad) }],
    });
    const facts = requestFacts(Buffer.from(`\ufeff${json}`));
    assert.deepEqual([facts.model, facts.maxTokens, facts.stream, facts.parsed], ['claude-sonnet-4-5', 100, true, true], `pad ${pad}`);
  }
  assert.equal(requestFacts(Buffer.from('\ufeff\ufeff{"model":"m"}')).model, null, 'one mark only: more is not JSON');
});

test('a body naming the model twice with different values is a conflict; once, twice the same, or nested is not', () => {
  const facts = (text: string) => requestFacts(Buffer.from(text));
  const big = 'x'.repeat(3000); // past the 2 KB member-scan threshold too
  for (const pad of ['', big]) {
    assert.equal(facts(`{"model":"claude-sonnet-4-5","max_tokens":1,"p":"${pad}"}`).conflict, undefined);
    assert.equal(
      facts(`{"model":"claude-sonnet-4-5","model":"claude-sonnet-4-5","p":"${pad}"}`).conflict,
      undefined,
      'the same value twice',
    );
    assert.equal(
      facts(`{"model":"claude-sonnet-4-5","tools":[{"input_schema":{"properties":{"model":{"type":"string"}}}}],"p":"${pad}"}`).conflict,
      undefined,
      'a nested "model" key is not the request model',
    );
    assert.equal(facts(`{"model":"claude-sonnet-4-5","p":"${pad}","model":"claude-opus-4-1"}`).conflict, 'model');
    assert.equal(
      facts(`{"model":"claude-sonnet-4-5","mod\\u0065l":"claude-opus-4-1","p":"${pad}"}`).conflict,
      'model',
      'a key spelled with an escape',
    );
    assert.equal(facts(`{"model":"claude-sonnet-4-5","model":7,"p":"${pad}"}`).conflict, 'model', 'a second model that is not a string');
  }
  assert.equal(facts('{"model":"caf\\u00e9"}').conflict, undefined, 'an escape in a value alone');
});
