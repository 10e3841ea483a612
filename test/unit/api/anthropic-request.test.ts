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
