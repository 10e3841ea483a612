/**
 * readBatchBody over a real loopback HTTP server, the body streamed by a raw client in pieces:
 * the forwarded bytes are the client's (SHA-256) held in memory, spooled to a file and past the
 * cap; the scan's answer; the room taken and given back; the spool's file mode and backpressure;
 * and no file or descriptor left behind after success, a client gone mid-upload or an upstream
 * failure.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { BatchScan, type BatchScanResult } from '../../../src/api/anthropic/batch-scan.ts';
import { type BatchBody, type BatchBodyLimits, readBatchBody, SpoolFailed } from '../../../src/http/batch-body.ts';
import { BodiesFull, BodyBuffers } from '../../../src/http/request-body.ts';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A valid batch of about `size` bytes: `n` requests alternating two models. */
function batchOf(size: number): { body: Buffer; n: number } {
  const text = randomBytes(6 * 1024).toString('base64'); // 8 KiB of text per request
  const requests = [];
  for (let i = 0, total = 0; total < size; i++) {
    const r = {
      custom_id: `r${i}`,
      params: {
        model: i % 2 ? 'claude-sonnet-4-5' : 'claude-haiku-4-5',
        max_tokens: 512,
        messages: [{ role: 'user', content: `${i} "é" ${text}` }],
      },
    };
    total += JSON.stringify(r).length;
    requests.push(r);
  }
  return { body: Buffer.from(JSON.stringify({ requests })), n: requests.length };
}

/** The size of the largest file under `dir` this process holds open (its spool, unlinked), 0 for none. */
function fileBytesUnder(dir: string): number {
  let most = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) most = Math.max(most, statSync(`/proc/self/fd/${fd}`).size);
    } catch {}
  }
  return most;
}

/** Descriptors of this process open on files under `dir` (Linux: /proc/self/fd), and each one's mode. */
function openUnder(dir: string): number[] {
  const modes: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target.startsWith(dir)) modes.push(statSync(`/proc/self/fd/${fd}`).mode & 0o777);
  }
  return modes;
}

interface Served {
  url: string;
  buffers: BodyBuffers;
  /** The disk room (bytes in spool files), bounded by `maxSpooled` when given. */
  spools: BodyBuffers;
  tmp: string;
  /** Each request's read: its body and what the handler saw of the forward, or the error. */
  reads: Promise<{ read: BatchBody<BatchScanResult>; forwarded: Buffer; fileBytes: number } | { error: Error }>[];
}

/**
 * A server whose handler reads each request with readBatchBody, then drains the forward (as the
 * upstream would) and answers 200; `upstreamFails` reads only part of it, destroys it and answers 502.
 */
async function serve(
  t: { after(fn: () => unknown): void },
  limits: Omit<BatchBodyLimits, 'tmpDir'>,
  opts: { max?: number; maxSpooled?: number; tmpDir?: string; upstreamFails?: boolean; onRead?: (req: IncomingMessage) => void } = {},
): Promise<Served> {
  const tmp = mkdtempSync(join(tmpdir(), 'batch-body-test-'));
  const buffers = new BodyBuffers();
  const spools = new BodyBuffers();
  const reads: Served['reads'] = [];
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    opts.onRead?.(req);
    reads.push(
      (async () => {
        try {
          const read = await readBatchBody(req, { ...limits, tmpDir: opts.tmpDir ?? tmp }, new BatchScan(), {
            buffers,
            max: opts.max ?? 64 * MiB,
            res,
            ...(opts.maxSpooled === undefined ? {} : { spools, maxSpooled: opts.maxSpooled }),
          });
          const fileBytes = fileBytesUnder(tmp); // what the spool holds once the read resolved
          const chunks: Buffer[] = [];
          if (Buffer.isBuffer(read.forward)) chunks.push(read.forward);
          else
            for await (const c of read.forward as Readable) {
              chunks.push(c as Buffer);
              if (opts.upstreamFails) {
                (read.forward as Readable).destroy();
                break;
              }
            }
          res.writeHead(opts.upstreamFails ? 502 : 200).end();
          return { read, forwarded: Buffer.concat(chunks), fileBytes };
        } catch (error) {
          // As the proxy's refusals do: the rest of an upload refused mid-way is not read.
          res.writeHead(400, { connection: 'close' }).end();
          return { error: error as Error };
        }
      })(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(tmp, { recursive: true, force: true });
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, buffers, spools, tmp, reads };
}

/**
 * POSTs `body` over a plain socket in pieces of random sizes, honouring the socket's backpressure;
 * `abortAt`: the socket is destroyed after that many bytes, once `beforeAbort` settles; `holdAt`: after that many
 * bytes nothing more is sent until `resume` settles. Resolves with the status (0: none).
 */
async function upload(
  url: string,
  body: Buffer,
  opts: { chunked?: boolean; abortAt?: number; beforeAbort?: Promise<unknown>; holdAt?: number; resume?: Promise<unknown> } = {},
): Promise<number> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const framing = opts.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`;
  socket.write(
    `POST /v1/messages/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${framing}\r\nConnection: close\r\n\r\n`,
  );
  const response: Buffer[] = [];
  socket.on('data', (c: Buffer) => response.push(c));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  const end = opts.abortAt ?? body.length;
  for (let at = 0; at < end; ) {
    if (at === opts.holdAt) await opts.resume;
    const n = Math.min(
      (opts.holdAt !== undefined && at < opts.holdAt ? opts.holdAt : end) - at,
      1 + Math.floor(Math.random() * 256 * 1024),
    );
    const piece = body.subarray(at, at + n);
    const ok = socket.write(opts.chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
    at += n;
    if (!ok) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
    if (socket.destroyed) break;
  }
  if (opts.abortAt !== undefined) {
    await opts.beforeAbort;
    socket.destroy();
  } else if (opts.chunked) socket.write('0\r\n\r\n');
  await closed;
  const head = Buffer.concat(response).toString('latin1');
  return head === '' ? 0 : Number(head.split(' ')[1]);
}

const LIMITS = { memoryBytes: 32 * MiB, maxBytes: 256 * MiB };

test('a 1 KiB batch is held in memory: the bytes forwarded as sent, its scan, the room given back when the response closes', async (t) => {
  const s = await serve(t, LIMITS);
  const { body } = batchOf(700);
  assert.equal(await upload(s.url, body), 200);
  const r = await s.reads[0];
  assert.ok(r && 'read' in r);
  assert.ok(Buffer.isBuffer(r.read.forward));
  assert.equal(sha(r.forwarded), sha(body));
  assert.equal(r.read.bytes, body.length);
  assert.deepEqual([r.read.spooled, r.read.oversized], [false, false]);
  assert.deepEqual(
    r.read.scan.groups.map((g) => [g.model, g.maxTokens, g.count]),
    [['claude-haiku-4-5', 512, 1]],
  );
  assert.equal(s.buffers.peak, body.length);
  assert.equal(s.buffers.held, 0);
  assert.deepEqual(readdirSync(s.tmp), []);
});

test('a 40 MiB batch streamed in pieces passes the memory bound: spooled to a 0600 file nobody else can name, forwarded as sent, then gone', async (t) => {
  for (const chunked of [false, true]) {
    let modes: number[] = [];
    let entries: string[] = ['not looked'];
    // What the spool looks like while the upload is under way: once, after the body passed the memory bound.
    const look = (req: IncomingMessage) => {
      let seen = 0;
      const probe = (c: Buffer) => {
        seen += c.length;
        if (seen < 33 * MiB) return;
        req.off('data', probe);
        modes = openUnder(s.tmp);
        entries = readdirSync(s.tmp);
      };
      req.on('data', probe);
    };
    const s = await serve(t, LIMITS, { onRead: look });
    const { body, n } = batchOf(40 * MiB);
    const status = await upload(s.url, body, { chunked });
    assert.equal(status, 200);
    const r = await s.reads[0];
    assert.ok(r && 'read' in r);
    assert.equal(r.read.spooled, true);
    assert.equal(sha(r.forwarded), sha(body));
    assert.equal(r.read.bytes, body.length);
    assert.deepEqual([r.read.scan.readable, r.read.scan.requests], [true, n]);
    assert.deepEqual(
      r.read.scan.groups.map((g) => g.count),
      [Math.ceil(n / 2), Math.floor(n / 2)],
    );
    // Declared past the bound, it is spooled from the first byte and takes no memory; chunked, memory up to the bound.
    assert.ok(s.buffers.peak <= (chunked ? 32 * MiB + 256 * 1024 : 0), `peak ${s.buffers.peak}`);
    assert.equal(s.buffers.held, 0);
    assert.ok(modes.length > 0 && modes.every((m) => m === 0o600), `modes ${modes.map((m) => m.toString(8))}`);
    assert.deepEqual(entries, [], 'unlinked at once: only the open descriptors hold the bytes');
    assert.deepEqual(openUnder(s.tmp), []);
    assert.deepEqual(readdirSync(s.tmp), []);
  }
});

test('past max_batch_body_bytes nothing more is scanned: what was read (memory or file) and the rest stream on as sent', async (t) => {
  for (const limits of [
    { memoryBytes: MiB, maxBytes: 4 * MiB }, // spooled, then past the cap
    { memoryBytes: 8 * MiB, maxBytes: MiB }, // past the cap before the memory bound
  ]) {
    for (const chunked of [false, true]) {
      // The disk room as tight as the config allows (max_spooled_batch_bytes = max_batch_body_bytes).
      const s = await serve(t, limits, { maxSpooled: limits.maxBytes });
      const body = randomBytes(6 * MiB);
      assert.equal(await upload(s.url, body, { chunked }), 200);
      const r = await s.reads[0];
      assert.ok(r && 'read' in r);
      assert.equal(sha(r.forwarded), sha(body));
      assert.equal(r.read.scan.reason, 'oversized');
      assert.equal(r.read.oversized, true);
      assert.ok(r.read.bytes > limits.maxBytes && r.read.bytes < body.length);
      assert.equal(r.read.spooled, limits.maxBytes > limits.memoryBytes);
      // The file stops at maxBytes: the chunk that crossed it goes on from memory, so the disk room's reservation holds.
      if (r.read.spooled) assert.equal(r.fileBytes, limits.maxBytes);
      assert.equal(s.buffers.held, 0);
      assert.equal(s.spools.held, 0);
      assert.deepEqual(openUnder(s.tmp), []);
      assert.deepEqual(readdirSync(s.tmp), []);
    }
  }
});

test('a client gone mid-upload: the read rejects, and no file, descriptor or memory is left', async (t) => {
  for (const abortAt of [100, 3 * MiB]) {
    let arrived: () => void = () => {};
    const read = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const s = await serve(t, { memoryBytes: MiB, maxBytes: 256 * MiB }, { onRead: () => arrived() });
    const { body } = batchOf(8 * MiB);
    await upload(s.url, body, { chunked: true, abortAt, beforeAbort: read });
    const r = await s.reads[0];
    assert.ok(r && 'error' in r, `${abortAt}: ${r === undefined ? 'no request' : JSON.stringify(r)}`);
    assert.match(r.error.message, /closed before its body ended|aborted/);
    assert.equal(s.buffers.held, 0);
    assert.deepEqual(openUnder(s.tmp), []);
    assert.deepEqual(readdirSync(s.tmp), []);
  }
});

test('an upstream that fails mid-body: the exchange ends, and the spool is closed and gone', async (t) => {
  const s = await serve(t, LIMITS, { upstreamFails: true });
  const { body } = batchOf(40 * MiB);
  assert.equal(await upload(s.url, body), 502);
  const r = await s.reads[0];
  assert.ok(r && 'read' in r);
  assert.equal(r.read.spooled, true);
  assert.ok(r.forwarded.length < body.length);
  assert.deepEqual(body.subarray(0, r.forwarded.length), r.forwarded);
  await r.read.closed(); // the response's 'close' runs release(); the streams close their descriptors after it
  assert.deepEqual(openUnder(s.tmp), []);
  assert.deepEqual(readdirSync(s.tmp), []);
});

test('the disk room: spool bytes across creates in flight stay within maxSpooled; one past it is refused naming the limit, and the room comes back when a create ends', async (t) => {
  for (const chunked of [false, true]) {
    const MAX = 12 * MiB;
    let first = true;
    let holding: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    // The first create is under way with 6 MiB read (declared: its 8 MiB taken at its first byte).
    const onRead = (req: IncomingMessage) => {
      if (!first) return;
      first = false;
      let seen = 0;
      req.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen >= 6 * MiB) holding();
      });
    };
    const s = await serve(t, { memoryBytes: MiB, maxBytes: 64 * MiB }, { maxSpooled: MAX, onRead });
    let resume: () => void = () => {};
    const resumed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const a = batchOf(8 * MiB).body;
    const sentA = upload(s.url, a, { chunked, holdAt: 6 * MiB, resume: resumed });
    try {
      await held;
      assert.ok(s.spools.held >= 6 * MiB, `${chunked}: held ${s.spools.held}`);
      // A second one does not fit beside it: refused (at its first byte when declared, mid-upload when chunked).
      await upload(s.url, batchOf(8 * MiB).body, { chunked });
      const b = await s.reads[1];
      assert.ok(b && 'error' in b, `${chunked}: ${b === undefined ? 'no request' : 'it was read'}`);
      assert.ok(b.error instanceof BodiesFull);
      assert.equal(b.error.limit, 'max_spooled_batch_bytes');
      assert.ok(s.spools.held <= MAX);
    } finally {
      resume(); // the first create ends either way, so a failure does not leave its connection open
    }
    assert.equal(await sentA, 200);
    const ra = await s.reads[0];
    assert.ok(ra && 'read' in ra);
    assert.equal(sha(ra.forwarded), sha(a));
    await ra.read.closed();
    assert.equal(s.spools.held, 0, 'given back when the create ended');
    // With the room back, the same create fits.
    const c = batchOf(8 * MiB).body;
    assert.equal(await upload(s.url, c, { chunked }), 200);
    const rc = await s.reads[2];
    assert.ok(rc && 'read' in rc && rc.read.spooled);
    assert.equal(sha(rc.forwarded), sha(c));
    await rc.read.closed();
    assert.ok(s.spools.peak <= MAX, `peak ${s.spools.peak}`);
    assert.equal(s.spools.held, 0);
    assert.equal(s.buffers.held, 0);
    assert.deepEqual(openUnder(s.tmp), []);
    assert.deepEqual(readdirSync(s.tmp), []);
  }
});

test('a spool that cannot be made (the disk, not the client) rejects with SpoolFailed, and the client gets its answer', async (t) => {
  for (const chunked of [false, true]) {
    const s = await serve(
      t,
      { memoryBytes: MiB, maxBytes: 64 * MiB },
      { maxSpooled: 64 * MiB, tmpDir: join(tmpdir(), 'claude-meter-no-such-dir', 'x') },
    );
    assert.equal(await upload(s.url, batchOf(4 * MiB).body, { chunked }), 400);
    const r = await s.reads[0];
    assert.ok(r && 'error' in r && r.error instanceof SpoolFailed, String(r && 'error' in r ? r.error : 'read'));
    assert.equal(s.spools.held, 0);
    assert.equal(s.buffers.held, 0);
  }
});

test('backpressure: the upload is paused while the spool file writes queue up, and no byte is lost', async (t) => {
  let pauses = 0;
  const s = await serve(
    t,
    { memoryBytes: 64 * 1024, maxBytes: 256 * MiB, spoolHighWater: 1 },
    {
      onRead: (req) => {
        const pause = req.pause.bind(req);
        req.pause = () => {
          pauses++;
          return pause();
        };
      },
    },
  );
  const { body } = batchOf(4 * MiB);
  assert.equal(await upload(s.url, body, { chunked: true }), 200);
  const r = await s.reads[0];
  assert.ok(r && 'read' in r);
  assert.equal(sha(r.forwarded), sha(body));
  assert.ok(pauses >= 4, `paused ${pauses} times`);
});

test('a body the room cannot take is refused unread (BodiesFull); one declared past the memory bound takes no room', async (t) => {
  const s = await serve(t, { memoryBytes: 64 * 1024, maxBytes: MiB }, { max: 1000 });
  const small = batchOf(2000).body;
  await upload(s.url, small);
  const refused = await s.reads[0];
  assert.ok(refused && 'error' in refused);
  assert.ok(refused.error instanceof BodiesFull);
  const large = batchOf(200 * 1024).body;
  assert.equal(await upload(s.url, large), 200);
  const r = await s.reads[1];
  assert.ok(r && 'read' in r);
  assert.equal(sha(r.forwarded), sha(large));
  assert.equal(s.buffers.held, 0);
});

test('a response that ends before the upload does (the exchange answered early): the read rejects, nothing is taken or left', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'batch-body-test-'));
  const buffers = new BodyBuffers();
  let read: Promise<unknown> = Promise.resolve();
  let answered: () => void = () => {};
  const early = new Promise<void>((resolve) => {
    answered = resolve;
  });
  const server = http.createServer((req, res) => {
    read = readBatchBody(req, { memoryBytes: 64 * 1024, maxBytes: 256 * MiB, tmpDir: tmp }, new BatchScan(), { buffers, max: MiB, res });
    read.catch(() => {});
    res.on('close', () => answered());
    res.writeHead(413, { connection: 'close' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(tmp, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await upload(url, batchOf(4 * MiB).body, { chunked: true, abortAt: 2 * MiB, beforeAbort: early });
  await assert.rejects(read);
  assert.equal(buffers.held, 0);
  assert.deepEqual(openUnder(tmp), []);
  assert.deepEqual(readdirSync(tmp), []);
});
