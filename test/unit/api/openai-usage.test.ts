/** OpenAI-format usage into the canonical four counts, and the `auto` proof of what prompt_tokens means. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readBody, readError } from '../../../src/api/openai/body.ts';
import { proves, SemanticsProof } from '../../../src/api/openai/semantics.ts';
import { usageReader } from '../../../src/api/openai/usage.ts';
import { isCount } from '../../../src/core/usage.ts';
import { usage } from '../usage/helpers.ts';
import { reportedUsage } from '../../../src/api/openai/reported.ts';

const read = (u: unknown, semantics: 'openai' | 'anthropic' | 'auto' = 'openai', proof = new SemanticsProof()) =>
  usageReader(semantics, proof)(u);

/** new-api serving Claude with a small cache: no signature in it, so `auto` cannot tell yet. */
const AMBIGUOUS = {
  prompt_tokens: 3000,
  completion_tokens: 50,
  total_tokens: 3050,
  prompt_tokens_details: { cached_tokens: 2000 },
  input_tokens: 0,
  output_tokens: 0,
  claude_cache_creation_5_m_tokens: 0,
  claude_cache_creation_1_h_tokens: 0,
};

test('auto reads openai until something proves otherwise, then keeps what it proved', () => {
  const proof = new SemanticsProof();
  const auto = usageReader('auto', proof);
  assert.deepEqual(proof.state, { semantics: 'openai', proven: false, evidence: null });
  assert.equal(auto(AMBIGUOUS).usage?.input, 1000, 'unproven: the cached tokens are taken out of prompt_tokens');
  assert.equal(proof.state.proven, false);
  // new-api's newer builds tag their usage: the proof.
  assert.equal(auto({ ...AMBIGUOUS, usage_semantic: 'anthropic' }).usage?.input, 3000);
  assert.deepEqual(proof.state, { semantics: 'anthropic', proven: true, evidence: 'usage_semantic: anthropic' });
  assert.equal(auto(AMBIGUOUS).usage?.input, 3000, 'the same usage now reads the proven way');
  // A later contrary signature does not flip it.
  auto({ prompt_tokens: 1500, completion_tokens: 1, prompt_cache_hit_tokens: 1280, prompt_cache_miss_tokens: 220 });
  auto({ ...AMBIGUOUS, usage_semantic: 'openai' });
  assert.deepEqual(proof.state, { semantics: 'anthropic', proven: true, evidence: 'usage_semantic: anthropic' });
});

test('an inclusive proof sticks too, and an inconsistent usage after it is clamped', () => {
  const proof = new SemanticsProof();
  const auto = usageReader('auto', proof);
  auto({ prompt_tokens: 1500, completion_tokens: 1, prompt_cache_hit_tokens: 1280, prompt_cache_miss_tokens: 220 });
  assert.deepEqual(proof.state, {
    semantics: 'openai',
    proven: true,
    evidence: 'prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens',
  });
  const r = auto({ prompt_tokens: 14, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 16384 } });
  assert.equal(proof.state.semantics, 'openai');
  assert.deepEqual(r, { usage: usage({ input: 0, cacheRead: 16384, output: 5 }), invalid: false, adjusted: 'cache_exceeds_prompt' });
});

test('each signature proves one reading; zeros and ambiguous totals prove nothing', () => {
  const ev = (u: object) => {
    const r = reportedUsage(u, { invalid: false });
    assert.ok(r !== null);
    return proves(r);
  };
  const base = { prompt_tokens: 3000, completion_tokens: 100 };
  assert.equal(ev(base), null);
  assert.equal(
    ev({ ...base, total_tokens: 3100, prompt_tokens_details: { cached_tokens: 1000 } }),
    null,
    'total = prompt + completion: both readings allow it',
  );
  assert.equal(ev(AMBIGUOUS), null, "new-api's members at 0 for an upstream that is not Claude");
  assert.deepEqual(ev({ ...base, usage_semantic: 'openai' }), { semantics: 'openai', evidence: 'usage_semantic: openai' });
  assert.deepEqual(ev({ ...base, claude_cache_creation_1_h_tokens: 10 }), {
    semantics: 'anthropic',
    evidence: 'claude_cache_creation tokens reported',
  });
  assert.deepEqual(ev({ ...base, prompt_tokens_details: { cached_tokens: 2000, cache_write_tokens: 1001 } }), {
    semantics: 'anthropic',
    evidence: 'prompt_tokens below its cached tokens',
  });
  assert.deepEqual(ev({ ...base, total_tokens: 3600, cache_read_input_tokens: 400, cache_creation_input_tokens: 100 }), {
    semantics: 'anthropic',
    evidence: 'total_tokens = prompt + completion + cached',
  });
  assert.equal(ev({ ...base, total_tokens: 3100, cache_read_input_tokens: 0 }), null, 'no cache: the arithmetic cannot tell');
  assert.deepEqual(ev({ ...base, input_tokens: 3000 }), { semantics: 'anthropic', evidence: 'input_tokens beside prompt_tokens' });
  assert.equal(
    ev({ input_tokens: 3000, output_tokens: 10, input_tokens_details: { cached_tokens: 2000 } }),
    null,
    "the Responses API's own input_tokens",
  );
  assert.equal(
    ev({ prompt_tokens: 1500, completion_tokens: 1, prompt_cache_hit_tokens: 0, prompt_cache_miss_tokens: 1500 }),
    null,
    'no hits: nothing to tell',
  );
});

test('declared semantics: the same usage, both ways', () => {
  const u = { prompt_tokens: 3000, completion_tokens: 50, prompt_tokens_details: { cached_tokens: 2000, cache_write_tokens: 500 } };
  assert.deepEqual(read(u, 'openai').usage, usage({ input: 500, cacheRead: 2000, cacheCreation: 500, output: 50 }));
  assert.deepEqual(read(u, 'anthropic').usage, usage({ input: 3000, cacheRead: 2000, cacheCreation: 500, output: 50 }));
  // DeepSeek's miss count is the input whatever the semantics say.
  const ds = { prompt_tokens: 1500, completion_tokens: 9, prompt_cache_hit_tokens: 1280, prompt_cache_miss_tokens: 220 };
  assert.equal(read(ds, 'anthropic').usage?.input, 220);
});

test('spellings of one count: the largest; writes keep their TTL split, the unplaced part at 5m', () => {
  assert.equal(
    read({ prompt_tokens: 900, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 0 }, prompt_cache_hit_tokens: 500 }).usage
      ?.cacheRead,
    500,
  );
  const split = (u: object) => {
    const r = read(u).usage;
    return [r?.cacheCreation, r?.cacheCreation5m, r?.cacheCreation1h];
  };
  assert.deepEqual(
    split({ prompt_tokens: 900, completion_tokens: 1, cache_creation_token_details: { ephemeral_1h_input_tokens: 300 } }),
    [300, 0, 300],
  );
  assert.deepEqual(
    split({
      prompt_tokens: 900,
      completion_tokens: 1,
      cache_creation_input_tokens: 500,
      cache_creation_token_details: { ephemeral_1h_input_tokens: 300 },
    }),
    [500, 200, 300],
  );
  assert.deepEqual(
    split({
      prompt_tokens: 900,
      completion_tokens: 1,
      prompt_tokens_details: { cache_write_tokens: 64 },
      claude_cache_creation_5_m_tokens: 0,
      claude_cache_creation_1_h_tokens: 0,
    }),
    [64, 64, 0],
    "new-api's zeroed split members beside an OpenAI cache write",
  );
  assert.deepEqual(split({ prompt_tokens: 900, completion_tokens: 1, prompt_tokens_details: { cache_write_tokens: 64 } }), [
    64,
    null,
    null,
  ]);
});

test('a counter that is not a count makes the reading invalid; null is absent; no counts at all is no usage', () => {
  for (const bad of ['12', -1, 1.5, 2 ** 53, true])
    assert.deepEqual(read({ prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: bad } }), {
      usage: null,
      invalid: true,
      adjusted: null,
    });
  assert.deepEqual(
    read({ prompt_tokens: 10, completion_tokens: null, prompt_tokens_details: { cached_tokens: null } }).usage,
    usage({ input: 10 }),
  );
  assert.deepEqual(read({ total_tokens: 10 }), { usage: null, invalid: false, adjusted: null });
  assert.deepEqual(read(null), { usage: null, invalid: false, adjusted: null });
});

test('no count is ever negative, and only a clamp is adjusted, whatever the usage and the semantics', () => {
  const count = fc.oneof(fc.constant(undefined), fc.nat({ max: 100_000 }));
  const reported = fc.record({
    prompt_tokens: count,
    completion_tokens: count,
    total_tokens: count,
    input_tokens: count,
    cache_read_input_tokens: count,
    cache_creation_input_tokens: count,
    prompt_cache_hit_tokens: count,
    prompt_cache_miss_tokens: count,
    claude_cache_creation_5_m_tokens: count,
    claude_cache_creation_1_h_tokens: count,
    prompt_tokens_details: fc.record({ cached_tokens: count, cache_write_tokens: count }),
  });
  fc.assert(
    fc.property(reported, fc.constantFrom('openai' as const, 'anthropic' as const, 'auto' as const), (u, semantics) => {
      const r = read(JSON.parse(JSON.stringify(u)), semantics);
      assert.equal(r.invalid, false);
      if (r.usage === null) return;
      for (const k of ['input', 'output', 'cacheRead', 'cacheCreation'] as const) assert.ok(isCount(r.usage[k]), k);
      for (const k of ['cacheCreation5m', 'cacheCreation1h'] as const) assert.ok(r.usage[k] === null || isCount(r.usage[k]), k);
      if (r.usage.cacheCreation5m !== null) assert.equal(r.usage.cacheCreation5m + (r.usage.cacheCreation1h ?? 0), r.usage.cacheCreation);
      assert.ok(r.adjusted === null || (r.adjusted === 'cache_exceeds_prompt' && r.usage.input === 0));
    }),
    { numRuns: 500 },
  );
});

test('bodies: a Responses object says why it stopped; a chat body leaves its finish_reason inside choices', () => {
  const reader = usageReader('openai', new SemanticsProof());
  const incomplete = readBody(
    {
      object: 'response',
      id: 'resp_1',
      model: 'm',
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      usage: { input_tokens: 1, output_tokens: 2 },
    },
    reader,
  );
  assert.equal(incomplete.stopReason, 'max_output_tokens');
  assert.equal(readBody({ object: 'chat.completion', choices: [{ finish_reason: 'stop' }] }, reader).stopReason, null);
  assert.deepEqual(readBody('nope', reader), { usage: null, invalid: false, model: null, messageId: null, stopReason: null });
});

test('readError: type, else code, in each shape the API sends one', () => {
  assert.equal(readError({ error: { message: 'x', type: 'invalid_request_error', param: null, code: 'bad' } }), 'invalid_request_error');
  assert.equal(readError({ error: { message: 'x', type: null, code: 'server_error' } }), 'server_error');
  assert.equal(
    readError({ type: 'error', code: 'rate_limit_exceeded', message: 'x', param: null, sequence_number: 3 }),
    'rate_limit_exceeded',
  );
  assert.equal(readError({ error: null }), null);
  assert.equal(readError([]), null);
});
