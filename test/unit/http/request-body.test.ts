/**
 * readRequestBody over a real loopback HTTP server: the facts of a small body, the
 * bounded read of an oversized one (the rest streamed on byte-identical), and an upload
 * cut short by the client.
 */
import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { parseFacts, readRequestBody, type ReadBody } from '../../../src/http/request-body.ts';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import type { RequestFacts } from '../../../src/core/request.ts';

/** The body as the pipeline holds it, before any stage asks for its facts. */
const held = (body: Buffer): ReadBody => ({ forward: body, bytes: body.length, whole: body });
const inspect = (body: Buffer): RequestFacts => parseFacts(held(body), anthropic);

/** One server whose handler hands each request to `onRequest` and answers 204. */
async function withServer(t: { after(fn: () => unknown): void }, onRequest: (req: IncomingMessage) => Promise<void>): Promise<string> {
  const server = http.createServer((req, res) => {
    onRequest(req).finally(() => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function drain(body: ReadBody['forward']): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const c of body as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('a small body is read whole and inspected', async (t) => {
  const sent = JSON.stringify({ model: 'claude-x', max_tokens: 64, stream: true, messages: [] });
  let got: ReadBody | undefined;
  const url = await withServer(t, async (req) => {
    got = await readRequestBody(req, 1024);
  });
  await fetch(url, { method: 'POST', body: sent });
  assert.ok(got);
  assert.ok(Buffer.isBuffer(got.forward));
  assert.equal(got.forward.toString(), sent);
  const f = parseFacts(got, anthropic);
  assert.deepEqual(
    { model: f.model, stream: f.stream, maxTokens: f.maxTokens, bytes: f.bytes, parsed: f.parsed },
    { model: 'claude-x', stream: true, maxTokens: 64, bytes: Buffer.byteLength(sent), parsed: true },
  );
});

test('past maxBytes the body is not buffered: what was read and the rest stream on unchanged', async (t) => {
  const sent = Buffer.alloc(256 * 1024, 'abcdefgh');
  let forwarded: Buffer | undefined;
  let facts: RequestFacts | undefined;
  const url = await withServer(t, async (req) => {
    const read = await readRequestBody(req, 1000);
    facts = parseFacts(read, anthropic);
    assert.ok(!Buffer.isBuffer(read.forward));
    forwarded = await drain(read.forward);
  });
  // A stream: the body arrives in several chunks, the first ones before the limit.
  await fetch(url, {
    method: 'POST',
    body: Readable.toWeb(Readable.from([sent.subarray(0, 600), sent.subarray(600)])) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  assert.ok(forwarded);
  assert.equal(Buffer.compare(forwarded, sent), 0);
  assert.equal(facts?.parsed, false);
  assert.ok((facts?.bytes ?? 0) > 1000);
});

test('an upload cut short by the client rejects', async (t) => {
  let outcome: Promise<unknown> | undefined;
  let arrived: () => void = () => {};
  const started = new Promise<void>((resolve) => (arrived = resolve));
  const url = await withServer(t, async (req) => {
    outcome = readRequestBody(req, 1024 * 1024);
    arrived();
    await outcome.catch(() => {});
  });
  const req = http.request(url, { method: 'POST', headers: { 'content-length': '1000' } });
  req.on('error', () => {});
  req.write('{"model":');
  await started;
  req.destroy();
  assert.ok(outcome);
  await assert.rejects(outcome);
});

test('a held body is parsed only when its facts are asked for, once; bytes needs no parse', (t) => {
  const calls = t.mock.method(JSON, 'parse');
  const body = Buffer.from('{"model":"claude-x","max_tokens":8,"stream":true}');
  const read = held(body);
  assert.equal(read.bytes, body.length);
  assert.equal(calls.mock.callCount(), 0, 'a successful response names the model: most requests never parse');
  const facts = parseFacts(read, anthropic);
  assert.equal(facts.model, 'claude-x');
  assert.equal(facts.stream, true);
  assert.equal(facts.maxTokens, 8);
  assert.equal(calls.mock.callCount(), 1);
});

test('inspect() of a large body (fields picked, not the whole body parsed) reads the same facts', () => {
  const messages = [{ role: 'user', content: `{"model":"decoy","stream":false,"max_tokens":1} ${'words "quoted" \\ '.repeat(400)}` }];
  const body = { model: 'claude-opus-5', messages, max_tokens: 2048, stream: true, metadata: { model: 'no' } };
  const big = Buffer.from(JSON.stringify(body, null, 1));
  assert.ok(big.length > 4096);
  const facts = inspect(big);
  assert.deepEqual(
    { model: facts.model, stream: facts.stream, maxTokens: facts.maxTokens, parsed: facts.parsed, bytes: facts.bytes },
    { model: 'claude-opus-5', stream: true, maxTokens: 2048, parsed: true, bytes: big.length },
  );
  // Broken structure is not JSON we can read, large or small: forwarded as-is, nothing inferred.
  const broken = inspect(big.subarray(0, big.length - 2));
  assert.deepEqual(
    { model: broken.model, parsed: broken.parsed, maxTokens: broken.maxTokens },
    { model: null, parsed: false, maxTokens: null },
  );
  // A large JSON array is valid JSON but no request object.
  assert.equal(inspect(Buffer.from(JSON.stringify(messages.concat(messages)))).parsed, false);
});
