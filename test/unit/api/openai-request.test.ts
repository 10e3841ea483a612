/** The OpenAI dialect's request side: routes, credentials, request facts, the include_usage rewrite, and its error body. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { askForUsage } from '../../../src/api/openai/rewrite.ts';
import { errorBody, eventKind } from '../../../src/api/openai/index.ts';
import { readError } from '../../../src/api/openai/body.ts';
import { IncludeUsageFilter, MAX_HELD_BYTES } from '../../../src/api/openai/filter.ts';
import { dialect } from './openai-helpers.ts';

const d = dialect('auto');

test('routes: POST to the four usage endpoints is metered, by their last segments and loosely; the rest passes through', () => {
  for (const p of [
    '/v1/chat/completions',
    '/v1/responses',
    '/v1/completions',
    '/v1/embeddings',
    '/chat/completions',
    '/openai/deployments/gpt-5/chat/completions?api-version=2026-06-01',
    '/V1/Chat/Completions/',
    '/v1/responses.',
    '/v1/embeddings%20',
  ])
    assert.equal(d.route('POST', p), 'metered', p);
  for (const [m, p] of [
    ['GET', '/v1/chat/completions'],
    ['POST', '/v1/models'],
    ['POST', '/v1/responses/resp_1/cancel'],
    ['GET', '/v1/responses/resp_1'],
    ['POST', '/v1/files'],
    ['POST', '/v1/messages'],
  ] as const)
    assert.equal(d.route(m, p), 'passthrough', `${m} ${p}`);
});

test('credentials: Authorization (its bearer token) and Azure api-key', () => {
  assert.deepEqual(d.credentialHeaders, ['authorization', 'api-key']);
  assert.equal(d.credentialSecret('authorization', 'Bearer sk-abc'), 'sk-abc');
  assert.equal(d.credentialSecret('authorization', 'bearer   sk-abc'), 'sk-abc');
  assert.equal(d.credentialSecret('api-key', 'azure-key'), 'azure-key');
  assert.deepEqual(d.headerFacts({ 'x-stainless-retry-count': '1' }), { betas: [], retry: true });
});

test('request facts: model, stream, the output cap in any of its spellings (the largest), the duplicate-model conflict', () => {
  const facts = (o: object | string) => d.requestFacts(Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)));
  assert.deepEqual(facts({ model: 'gpt-5.6', stream: true, max_completion_tokens: 800, messages: [] }), {
    model: 'gpt-5.6',
    stream: true,
    maxTokens: 800,
    bytes: 75,
    parsed: true,
  });
  assert.equal(facts({ model: 'm', max_tokens: 100 }).maxTokens, 100);
  assert.equal(facts({ model: 'm', max_output_tokens: 300, input: 'hi' }).maxTokens, 300);
  assert.equal(facts({ model: 'm', max_tokens: 100, max_completion_tokens: 50 }).maxTokens, 100);
  assert.equal(facts({ model: 'm', max_tokens: 'lots' }).maxTokens, null);
  assert.equal(facts('{"model":"gpt-5.6","model":"gpt-4o"}').conflict, 'model');
  assert.equal(facts(`{"model":"gpt-5.6","messages":[{"content":"${'x'.repeat(3000)}"}],"model":"gpt-4o"}`).conflict, 'model');
  assert.equal(facts('{"model":"gpt-5.6","tools":[{"function":{"parameters":{"model":{}}}}]}').conflict, undefined);
  assert.equal(facts('not json').parsed, false);
});

const ask = (text: string) => askForUsage(Buffer.from(text))?.toString('utf8') ?? null;

test('include_usage: added to a body without stream_options, the rest of the bytes untouched', () => {
  const body =
    '{ "model": "gpt-5.6",\n  "stream": true, "seed": 123456789012345678901234567890, "messages": [{"role":"user","content":"h\\u00e9"}]}';
  assert.equal(
    ask(body),
    `{"stream_options":{"include_usage":true}, "model": "gpt-5.6",\n  "stream": true, "seed": 123456789012345678901234567890, "messages": [{"role":"user","content":"h\\u00e9"}]}`,
  );
  assert.equal(ask('{}'), '{"stream_options":{"include_usage":true}}');
  assert.equal(ask('\ufeff{"stream":true}'), '\ufeff{"stream_options":{"include_usage":true},"stream":true}');
  // Bytes that are not UTF-8 elsewhere in the body stay exactly as sent.
  const raw = Buffer.concat([Buffer.from('{"stream":true,"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  const out = askForUsage(raw);
  assert.deepEqual(out?.subarray(out.length - raw.length + 1), raw.subarray(1));
});

test('include_usage: set inside an existing stream_options, its other members kept; none when the client asked', () => {
  assert.equal(
    ask('{"stream":true,"stream_options":{"include_obfuscation":false}}'),
    '{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}',
  );
  assert.equal(
    ask('{"stream":true,"stream_options":{"include_usage":false,"x":1}}'),
    '{"stream":true,"stream_options":{"include_usage":true,"x":1}}',
  );
  assert.equal(ask('{"stream":true,"stream_options":null}'), '{"stream":true,"stream_options":{"include_usage":true}}');
  assert.equal(ask('{"stream":true,"stream_options":{"include_usage":true}}'), null);
  assert.equal(ask('{"stream":true,"stream_options":"yes"}'), null);
  assert.equal(ask('{"stream_options":{},"stream":true,"stream_options":{}}'), null, 'named twice: which one counts is unknown');
  assert.equal(ask('[1]'), null);
});

test('the dialect rewrites only a streamed chat completion, when configured, and never an ambiguous body', () => {
  const body = Buffer.from('{"model":"gpt-5.6","stream":true,"messages":[]}');
  const facts = d.requestFacts(body);
  const rw = d.rewrite?.('metered', '/v1/chat/completions', body, () => facts);
  assert.equal(rw?.reason, 'include_usage');
  assert.equal(rw?.body.toString(), '{"stream_options":{"include_usage":true},"model":"gpt-5.6","stream":true,"messages":[]}');
  assert.ok(rw?.responseFilter('text/event-stream; charset=utf-8') instanceof IncludeUsageFilter);
  assert.equal(rw?.responseFilter('application/json'), null);
  assert.equal(
    d.rewrite?.('metered', '/v1/responses', body, () => facts),
    null,
  );
  assert.equal(
    d.rewrite?.('passthrough', '/v1/chat/completions', body, () => facts),
    null,
  );
  assert.equal(
    d.rewrite?.('metered', '/v1/chat/completions', body, () => ({ ...facts, stream: false })),
    null,
  );
  assert.equal(
    d.rewrite?.('metered', '/v1/chat/completions', body, () => ({ ...facts, conflict: 'model' })),
    null,
  );
  assert.equal(
    dialect('auto', undefined, false).rewrite?.('metered', '/v1/chat/completions', body, () => facts),
    null,
  );
  // A body that cannot set `stream` is never parsed for the rewrite.
  const plain = Buffer.from('{"model":"gpt-5.6","messages":[]}');
  assert.equal(
    d.rewrite?.('metered', '/v1/chat/completions', plain, () => assert.fail('parsed')),
    null,
  );
});

test('the filter: a held event across chunks, a comment, [DONE], and an event cut at the end', () => {
  const f = new IncludeUsageFilter();
  const parts = [
    f.push(Buffer.from(': ping\r\n\r\ndata: {"choices":[{"delta":{"content":"a"}}],"usa')),
    f.push(Buffer.from('ge":null}\r\n\r')),
    f.push(Buffer.from('\ndata: {"choices":[],"usage":{"prompt_tokens":1}}\r\n\r\ndata: [DONE]\r\n\r\ndata: {"usage":null')),
  ];
  assert.equal(parts[0]?.toString(), ': ping\r\n\r\n', 'the incomplete event is held back');
  assert.equal(parts[1]?.toString(), '', 'a CR last may be the first half of a CRLF');
  assert.equal(parts[2]?.toString(), 'data: {"choices":[{"delta":{"content":"a"}}]}\r\n\r\ndata: [DONE]\r\n\r\n');
  assert.equal(f.end().toString(), 'data: {"usage":null', 'cut mid-object: passed as it came');
  const g = new IncludeUsageFilter();
  assert.equal(g.push(Buffer.from('data: {"id":"x","usage":null}')).length, 0);
  assert.equal(g.end().toString(), 'data: {"id":"x"}', 'a whole data line the upstream never terminated');
});

test('the filter passes unchanged an event it cannot edit exactly', () => {
  const same = (s: string) => {
    const f = new IncludeUsageFilter();
    assert.equal(Buffer.concat([f.push(Buffer.from(s)), f.end()]).toString(), s);
  };
  same('data: {"usage":null,\ndata: "x":1}\n\n');
  same('data: {"usage":null,"usage":null}\n\n');
  same('data: {"text":"\\"usage\\":null"}\n\n');
  same('data: not json "usage"\n\n');
});

test('events by name: Responses deltas are content, progress none, terminal events and unknown names parsed', () => {
  assert.equal(eventKind('response.output_text.delta'), 'content');
  assert.equal(eventKind('response.function_call_arguments.delta'), 'content');
  assert.equal(eventKind('response.audio.delta'), 'none');
  assert.equal(eventKind('response.output_text.done'), 'none');
  assert.equal(eventKind('response.web_search_call.completed'), 'none');
  for (const e of [
    'response.created',
    'response.completed',
    'response.incomplete',
    'response.failed',
    'error',
    'response.something_new',
    'message',
  ])
    assert.equal(eventKind(e), 'usage', e);
});

test("error body: OpenAI's shape, which readError reads back", () => {
  const body = JSON.parse(errorBody('rate_limit_error', 'budget exhausted', 'req_meter_1'));
  assert.deepEqual(body, { error: { message: 'budget exhausted', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } });
  assert.equal(readError(body), 'rate_limit_error');
  assert.deepEqual(JSON.parse(errorBody('api_error', 'm', 'r')).error.code, null);
});

test('the filter holds back at most MAX_HELD_BYTES: an event that never ends passes as it comes, and so does the rest', () => {
  const f = new IncludeUsageFilter();
  const first = f.push(Buffer.from('data: {"choices":[],"usage":null}\n\ndata: {"x":"'));
  assert.equal(first.toString(), 'data: {"choices":[]}\n\n', 'the whole event edited; the open one held');
  const line = Buffer.from(`${'a'.repeat(64 * 1024)}\n`);
  let out = '';
  let held = 0;
  for (let i = 0; i < 20; i++) {
    const o = f.push(line);
    out += o.toString();
    held = Math.max(held, (i + 1) * line.length + 11 - out.length);
  }
  assert.ok(held <= MAX_HELD_BYTES + line.length, `held ${held} bytes at most`);
  assert.ok(out.startsWith('data: {"x":"'), 'the held bytes were released');
  const after = 'data: {"choices":[],"usage":null}\n\n';
  assert.equal(f.push(Buffer.from(after)).toString(), after, 'from then on everything passes unchanged');
  assert.equal(f.end().length, 0);
});
