/**
 * readRequestBody over a real loopback HTTP server: the facts of a small body, the
 * bounded read of an oversized one (the rest streamed on byte-identical), and an upload
 * cut short by the client.
 */
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { BodiesFull, BodyBuffers, parseFacts, readRequestBody, type ReadBody } from '../../../src/http/request-body.ts';
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

/**
 * A server whose requests read their body from one BodyBuffers room of `max` bytes and then hold
 * it (as a request being forwarded does) until `release` resolves; refused ones answer 503.
 */
async function roomServer(t: { after(fn: () => unknown): void }, max: number, maxBytes: number) {
  const buffers = new BodyBuffers();
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const outcomes: Array<'read' | 'refused'> = [];
  let closed = 0;
  let onOutcome: () => void = () => {};
  let onClosed: () => void = () => {};
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    res.on('close', () => {
      closed++;
      onClosed();
    });
    readRequestBody(req, maxBytes, { buffers, max, res }).then(
      async (read) => {
        outcomes.push('read');
        onOutcome();
        await drain(read.forward);
        await released;
        res.writeHead(200).end();
      },
      (err: unknown) => {
        assert.ok(err instanceof BodiesFull, String(err));
        outcomes.push('refused');
        onOutcome();
        res.writeHead(503, { connection: 'close' }).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Held responses end first, even when an assertion failed: the server closes only without them.
  t.after(() => {
    release();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const until = (cond: () => boolean, set: (f: () => void) => void) =>
    new Promise<void>((resolve) => {
      const check = () => cond() && resolve();
      set(check);
      check();
    });
  return {
    buffers,
    outcomes,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    release,
    outcomesReach: (n: number) =>
      until(
        () => outcomes.length >= n,
        (f) => (onOutcome = f),
      ),
    closedReach: (n: number) =>
      until(
        () => closed >= n,
        (f) => (onClosed = f),
      ),
  };
}

/** One upload, its body written in 16 KiB chunks, with or without a Content-Length; resolves to the status. */
function upload(url: string, size: number, declared: boolean): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: declared ? { 'content-length': String(size) } : {} });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(-1)); // refused mid-upload: the server closed the connection
    const chunk = Buffer.alloc(16 * 1024, 'x');
    for (let sent = 0; sent < size; sent += chunk.length) req.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
    req.end();
  });
}

test('bodies in flight share one cap: with a declared length, uploads past it are refused before a byte is read', async (t) => {
  const BODY = 256 * 1024;
  const room = await roomServer(t, 3 * BODY, 1024 * 1024);
  const statuses = Array.from({ length: 8 }, () => upload(room.url, BODY, true));
  await room.outcomesReach(8);
  assert.deepEqual(room.outcomes.filter((o) => o === 'read').length, 3);
  assert.equal(room.buffers.refused, 5);
  assert.equal(room.buffers.held, 3 * BODY, 'the three bodies held until they are forwarded');
  room.release();
  assert.deepEqual((await Promise.all(statuses)).sort(), [200, 200, 200, 503, 503, 503, 503, 503]);
  await room.closedReach(8);
  assert.equal(room.buffers.held, 0, 'given back as each response closed');
  assert.equal(room.buffers.peak, 3 * BODY);
});

test('chunked uploads (no length) take their bytes as they arrive and never pass the cap together', async (t) => {
  const BODY = 256 * 1024;
  const MAX = 600 * 1024;
  const room = await roomServer(t, MAX, 1024 * 1024);
  const statuses = Array.from({ length: 8 }, () => upload(room.url, BODY, false));
  await room.outcomesReach(8);
  assert.ok(room.buffers.peak <= MAX, `peak ${room.buffers.peak}`);
  const read = room.outcomes.filter((o) => o === 'read').length;
  assert.ok(read >= 1 && read <= 2, `${read} read whole`);
  assert.equal(room.buffers.refused, 8 - read);
  assert.equal(room.buffers.held, read * BODY, 'a refused upload gives back what it had taken at once');
  room.release();
  const got = await Promise.all(statuses);
  assert.equal(got.filter((s) => s === 200).length, read);
  await room.closedReach(8);
  assert.equal(room.buffers.held, 0);
});

test('an oversized body holds only what was read before it streamed on, and gives it back', async (t) => {
  const room = await roomServer(t, 1024 * 1024, 64 * 1024);
  const status = upload(room.url, 512 * 1024, true);
  await room.outcomesReach(1);
  assert.deepEqual(room.outcomes, ['read']);
  // A socket read is at most 64 KiB: the limit and one read past it.
  assert.ok(room.buffers.held > 64 * 1024 && room.buffers.held <= 128 * 1024, `held ${room.buffers.held}`);
  room.release();
  assert.equal(await status, 200);
  await room.closedReach(1);
  assert.equal(room.buffers.held, 0);
});
