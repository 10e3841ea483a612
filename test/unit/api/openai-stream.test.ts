/** The OpenAI stream reading through the tap: streams cut short, Responses terminal events, what is never parsed, what is invalid. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outcome, usage } from '../usage/helpers.ts';
import { SSE_CASES } from './openai-cases.ts';
import { dialect, fixture, runOpenAiTap, streamRequest } from './openai-helpers.ts';

/** The first `n` events of a fixture (events end at a blank line). */
function firstEvents(file: string, n: number): Buffer {
  const text = fixture(file).toString('utf8');
  const sep = text.includes('\r\n') ? '\r\n\r\n' : '\n\n';
  return Buffer.from(text.split(sep).slice(0, n).join(sep) + sep);
}

const sse = (...events: string[]) => Buffer.from(events.map((e) => `${e}\n\n`).join(''));
const chunk = (o: object) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-5.6', ...o })}`;
const delta = (content: string) => chunk({ choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: null });

test('a chat stream cut before its usage: input from the request size, output from the deltas, estimated', async () => {
  // The role chunk and four content chunks: "Hello" "," " world" "!" (13 characters).
  const { outcome: got } = await runOpenAiTap({
    dialect: dialect('auto'),
    chunks: [firstEvents('openai-chat.sse', 5)],
    how: 'aborted',
    request: streamRequest(900),
  });
  assert.deepEqual(
    got,
    outcome({
      usage: usage({ input: 300, output: 5 }),
      model: 'gpt-5.6-2026-07-01',
      messageId: 'chatcmpl-CwQ4aLfStReAm0001',
      partial: true,
      estimated: true,
    }),
  );
});

test("the estimate counts generated text only: tool-call arguments, not ids and names; not a relay's duplicate of the text", async () => {
  const cut = async (file: string, n: number) =>
    (await runOpenAiTap({ dialect: dialect('openai'), chunks: [firstEvents(file, n)], how: 'aborted', request: streamRequest(30) })).outcome
      .usage;
  // "usage" (5), then the arguments `{\"query\":` (11, as written) and `\"usage\"}` (9): 25 characters.
  assert.deepEqual(await cut('openai-chat-tools.sse', 5), usage({ input: 10, output: 9 }));
  // Portkey repeats each delta in `content_blocks`: "Checked" " the" " logs" count once (16 characters).
  assert.deepEqual(await cut('portkey-chat.sse', 4), usage({ input: 10, output: 6 }));
});

test('cut before any content: still estimated, its input only', async () => {
  const { outcome: got } = await runOpenAiTap({
    dialect: dialect('openai'),
    chunks: [firstEvents('openai-chat.sse', 1)],
    how: 'aborted',
    request: streamRequest(10),
  });
  assert.deepEqual(got.usage, usage({ input: 4 }));
  assert.equal(got.estimated, true);
});

test('cut short without the request facts: no estimate to make, the usage is missing', async () => {
  const { outcome: got } = await runOpenAiTap({ dialect: dialect('openai'), chunks: [firstEvents('openai-chat.sse', 5)], how: 'aborted' });
  assert.equal(got.usage, null);
  assert.equal(got.missingReason, 'no_usage_field');
  assert.equal(got.partial, true);
});

test('cut before the first chunk: stream_incomplete', async () => {
  const { outcome: got } = await runOpenAiTap({
    dialect: dialect('openai'),
    chunks: [Buffer.from(': keep-alive\n\n')],
    how: 'aborted',
    request: streamRequest(900),
  });
  assert.equal(got.missingReason, 'stream_incomplete');
});

test('a complete stream that reported no usage (nobody asked) is no_usage_field, not an estimate', async () => {
  const body = sse(delta('Hi'), chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }), 'data: [DONE]');
  const { outcome: got } = await runOpenAiTap({ dialect: dialect('openai'), chunks: [body], request: streamRequest(900) });
  assert.deepEqual([got.usage, got.missingReason, got.partial, got.stopReason], [null, 'no_usage_field', false, 'stop']);
});

test('the usage seen, then cut before [DONE]: final, not partial', async () => {
  const { outcome: got } = await runOpenAiTap({
    dialect: dialect('openai'),
    chunks: [firstEvents('openai-chat.sse', 7)],
    how: 'aborted',
    request: streamRequest(900),
  });
  const whole = SSE_CASES.find((c) => c.file === 'openai-chat.sse')?.expected;
  assert.deepEqual(got, whole);
});

test('a Responses stream cut before its terminal event: estimated from the delta texts, not their padded size', async () => {
  // created, in_progress, item added, part added, four deltas "The" " build" " passes" "." (17 characters).
  const { outcome: got } = await runOpenAiTap({
    dialect: dialect('openai'),
    path: '/v1/responses',
    chunks: [firstEvents('openai-responses.sse', 8)],
    how: 'aborted',
    request: streamRequest(3000),
  });
  assert.deepEqual(
    got,
    outcome({
      usage: usage({ input: 1000, output: 6 }),
      model: 'gpt-5.6-2026-07-01',
      messageId: 'resp_68f0a1b2c3d4e5f6StReAm1',
      partial: true,
      estimated: true,
    }),
  );
});

test('an error event mid-stream: partial, its code, the estimate', async () => {
  const body = sse(
    'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_9","model":"gpt-5.6","usage":null}}',
    'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"abcdef"}',
    'event: error\ndata: {"type":"error","code":"server_error","message":"boom","param":null}',
  );
  const { outcome: got } = await runOpenAiTap({
    dialect: dialect('openai'),
    path: '/v1/responses',
    chunks: [body],
    request: streamRequest(30),
  });
  assert.deepEqual(
    got,
    outcome({
      usage: usage({ input: 10, output: 2 }),
      model: 'gpt-5.6',
      messageId: 'resp_9',
      errorType: 'server_error',
      partial: true,
      estimated: true,
    }),
  );
});

test("a relay's error chunk in a chat stream, then [DONE]: partial with the estimate", async () => {
  const body = sse(
    delta('abc'),
    'data: {"error":{"message":"upstream overloaded","type":"overloaded_error","param":null,"code":null}}',
    'data: [DONE]',
  );
  const { outcome: got } = await runOpenAiTap({ dialect: dialect('openai'), chunks: [body], request: streamRequest(3) });
  assert.deepEqual(
    got,
    outcome({
      usage: usage({ input: 1, output: 1 }),
      model: 'gpt-5.6',
      messageId: 'c1',
      errorType: 'overloaded_error',
      partial: true,
      estimated: true,
    }),
  );
});

test('content chunks are not parsed: one that is not JSON still counts, and raises no anomaly', async () => {
  const broken = 'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"abcdef"},"finish_reason":null}],"usage":null';
  const body = sse(delta(''), broken);
  const { outcome: got, tap } = await runOpenAiTap({
    dialect: dialect('openai'),
    chunks: [body],
    how: 'aborted',
    request: streamRequest(3),
  });
  assert.deepEqual([...tap.anomalies], []);
  assert.equal(got.usage?.output, 2);
  // A look-alike that may carry usage is parsed (and, broken, noted).
  const carrying = 'data: {"id":"c1","choices":[],"usage": {"prompt_tokens":1';
  const { tap: tap2 } = await runOpenAiTap({ dialect: dialect('openai'), chunks: [sse(delta(''), carrying)], request: streamRequest(3) });
  assert.deepEqual([...tap2.anomalies], ['unparseable_event']);
});

test('a running total on every chunk: the latest wins; one that goes down is invalid', async () => {
  const u = (p: number, c: number) =>
    chunk({ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }], usage: { prompt_tokens: p, completion_tokens: c } });
  const fin = chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 3 } });
  const { outcome: got } = await runOpenAiTap({ dialect: dialect('openai'), chunks: [sse(u(10, 1), u(10, 2), fin, 'data: [DONE]')] });
  assert.deepEqual(got.usage, usage({ input: 10, output: 3 }));
  const { outcome: bad, tap } = await runOpenAiTap({ dialect: dialect('openai'), chunks: [sse(u(10, 2), u(10, 1), 'data: [DONE]')] });
  assert.equal(bad.missingReason, 'invalid_usage');
  assert.deepEqual([...tap.anomalies], ['count_decreased']);
});

test('a counter that is not a count, and two response.created, are invalid_usage', async () => {
  const bad = sse(chunk({ choices: [], usage: { prompt_tokens: '10', completion_tokens: 1 } }), 'data: [DONE]');
  assert.equal((await runOpenAiTap({ dialect: dialect('openai'), chunks: [bad] })).outcome.missingReason, 'invalid_usage');
  const created = 'event: response.created\ndata: {"type":"response.created","response":{"id":"r","model":"m"}}';
  const twice = sse(
    created,
    created,
    'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","model":"m","status":"completed","usage":{"input_tokens":1,"output_tokens":1}}}',
  );
  const { outcome: got, tap } = await runOpenAiTap({ dialect: dialect('openai'), path: '/v1/responses', chunks: [twice] });
  assert.equal(got.missingReason, 'invalid_usage');
  assert.deepEqual([...tap.anomalies], ['duplicate_start']);
});

test('oversized chunks keep their usage (the members the reading needs), whatever their bulk', async () => {
  const whole = SSE_CASES.find((c) => c.file === 'openai-chat.sse')?.expected;
  const { outcome: got, tap } = await runOpenAiTap({
    dialect: dialect('openai'),
    chunks: [fixture('openai-chat.sse')],
    maxSseEventBytes: 400,
  });
  assert.ok(
    fixture('openai-chat.sse')
      .toString()
      .split('\n\n')
      .some((e) => e.length > 400),
    'some chunks are oversized',
  );
  assert.equal(tap.droppedEvents, 0);
  assert.deepEqual(got.usage, whole?.usage);
  assert.equal(got.model, whole?.model);
});
