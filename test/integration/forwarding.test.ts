/** Forwarding is transparent: methods, paths, headers, bodies, streaming chunk by chunk, backpressure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { startMockAnthropic, messageStream } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const SONNET = 'claude-sonnet-4-6';

test('every method and path is forwarded; x-meter-* and hop-by-hop headers are stripped; auth passes unchanged', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({
    kind: 'raw',
    status: 200,
    headers: { 'content-type': 'application/json', 'x-upstream': 'yes' },
    chunks: ['{"data":[]}'],
  }));
  const { url } = await startProxy(t, { upstream: up.url });
  for (const method of ['GET', 'DELETE', 'PUT', 'PATCH', 'POST']) {
    // node:http, not fetch: fetch refuses to send hop-by-hop headers at all.
    const res = await rawRequest(
      `${url}/v1/models?limit=5&after_id=x`,
      method,
      {
        authorization: 'Bearer tok-123',
        'x-meter-tag': 'team-a',
        'x-meter-priority': 'low',
        'anthropic-version': '2023-06-01',
        'x-custom': 'kept',
        'keep-alive': 'timeout=5',
        connection: 'keep-alive, x-hop',
        'x-hop': 'named in Connection, so hop-by-hop',
      },
      method === 'GET' || method === 'DELETE' ? undefined : 'raw body bytes',
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-upstream'], 'yes');
    assert.equal(res.body, '{"data":[]}');
  }
  assert.equal(up.received.length, 5);
  for (const r of up.received) {
    assert.equal(r.url, '/v1/models?limit=5&after_id=x');
    assert.equal(r.headers['authorization'], 'Bearer tok-123');
    assert.equal(r.headers['x-custom'], 'kept');
    assert.equal(r.headers['anthropic-version'], '2023-06-01');
    assert.equal(r.headers['x-meter-tag'], undefined);
    assert.equal(r.headers['x-meter-priority'], undefined);
    assert.equal(r.headers['keep-alive'], undefined);
    assert.equal(r.headers['x-hop'], undefined);
  }
  assert.deepEqual(
    up.received.map((r) => r.method),
    ['GET', 'DELETE', 'PUT', 'PATCH', 'POST'],
  );
  assert.equal(up.received[4]?.body.toString(), 'raw body bytes');
});

test('request bodies reach the upstream byte-identical, invalid JSON included, and are still recorded', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'error', status: 400, type: 'invalid_request_error', message: 'bad json' }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const weird = Buffer.from('{"model": "claude-sonnet-4-5", "messages": [ \u00e9\u{1F600} broken', 'utf8');
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
    body: weird,
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: { type: string } };
  assert.equal(body.error.type, 'invalid_request_error');
  assert.ok(up.received[0]?.body.equals(weird));
  await app.recorder.flush();
  const [r] = await app.store.recent(1);
  assert.equal(r?.status, 400);
  assert.equal(r?.usageMissing, 'error_status');
  assert.equal(r?.model, null);
});

test('a configured upstream api_key replaces the client credentials', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, { upstream: up.url, config: { upstream: { api_key: 'sk-injected' } } });
  await fetch(`${url}/v1/messages`, {
    method: 'POST',
    // The same key twice is one credential; both headers are replaced.
    headers: { 'x-api-key': 'client-token', authorization: 'Bearer client-token' },
    body: JSON.stringify({ model: SONNET, max_tokens: 5, messages: [] }),
  }).then((r) => r.arrayBuffer());
  assert.equal(up.received[0]?.headers['x-api-key'], 'sk-injected');
  assert.equal(up.received[0]?.headers['authorization'], undefined);
});

test('a client that disconnects mid-stream: usage seen so far is recorded as partial', async (t) => {
  const up = await startMockAnthropic(t);
  // Slow stream: message_start arrives, then the rest trickles.
  up.setScenario(() => ({
    kind: 'message',
    usage: { input_tokens: 900, output_tokens: 700 },
    text: 'word '.repeat(200),
    chunkSize: 64,
    delayMs: 5,
  }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const u = new URL(url);
  await new Promise<void>((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: '/v1/messages',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
      },
      (res) => {
        let seen = 0;
        res.on('data', (c: Buffer) => {
          seen += c.length;
          if (seen > 600) {
            req.destroy();
            resolve();
          }
        });
        res.on('error', () => {});
      },
    );
    req.on('error', () => {});
    req.on('close', () => resolve());
    req.end(JSON.stringify({ model: SONNET, max_tokens: 1000, stream: true, messages: [] }));
    setTimeout(() => reject(new Error('no data')), 5000);
  });
  // Wait for the proxy to notice and settle.
  await waitFor('the record of the request that left', () => app.recorder.stats().written > 0, 2_000);
  await app.recorder.flush();
  const [r] = await app.store.recent(1);
  assert.equal(r?.partial, true);
  assert.equal(r?.usage?.input, 900);
  assert.ok((r?.usage?.output ?? 0) < 700, 'only the placeholder output count was seen');
  assert.ok((r?.costPicoUsd ?? 0) >= 900 * 3_000_000, 'input already billed');
});

test('unknown models are recorded as unpriced with a metric and one warning, never $0', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 10, output_tokens: 10 }, model: 'claude-imaginary-9' }));
  const { recordingLogger } = await import('../helpers/start-proxy.ts');
  const logger = recordingLogger();
  const { app, url } = await startProxy(t, { upstream: up.url, logger });
  for (let i = 0; i < 3; i++) {
    await fetch(`${url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-imaginary-9', max_tokens: 5, messages: [] }),
    }).then((r) => r.arrayBuffer());
  }
  await app.recorder.flush();
  const [r] = await app.store.recent(1);
  assert.equal(r?.unpriced, true);
  assert.equal(r?.costPicoUsd, 0);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /claude_meter_unpriced_requests_total\{model="claude-imaginary-9"\} 3/);
  assert.equal(logger.lines.filter((l) => l.level === 'warn' && l.obj['model'] === 'claude-imaginary-9').length, 1);
});

test('SSE passes through chunk by chunk: the first event reaches the client while the upstream is still holding the rest', async (t) => {
  const up = await startMockAnthropic(t);
  const stream = messageStream({ usage: { input_tokens: 1, output_tokens: 2 }, model: SONNET, text: 'a b c' });
  const first = stream.slice(0, stream.indexOf('\n\n') + 2);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  up.setScenario(() => ({
    kind: 'gated',
    headers: { 'content-type': 'text/event-stream' },
    first,
    rest: stream.slice(first.length),
    gate,
  }));
  const { app, url } = await startProxy(t, { upstream: up.url });
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    body: JSON.stringify({ model: SONNET, max_tokens: 5, stream: true, messages: [] }),
  });
  assert.ok(res.body);
  const reader = res.body.getReader();
  let got = '';
  const dec = new TextDecoder();
  // If the proxy buffered, this loop would never see the first event: the upstream holds the rest until we release it.
  while (!got.includes('\n\n')) {
    const { value, done } = await reader.read();
    assert.equal(done, false, 'stream ended before the first event');
    got += dec.decode(value, { stream: true });
  }
  assert.equal(got, first);
  release();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    got += dec.decode(value, { stream: true });
  }
  assert.equal(got, stream);
  await app.recorder.flush();
  const [r] = await app.store.recent(1);
  assert.equal(r?.usage?.output, 2);
});

function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test("metered requests ask the upstream for identity encoding (cheaper to meter); other paths keep the client's accept-encoding", async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, { upstream: up.url });
  await rawRequest(
    `${url}/v1/messages`,
    'POST',
    { 'accept-encoding': 'gzip, br', 'content-type': 'application/json' },
    JSON.stringify({ model: SONNET, max_tokens: 5, messages: [] }),
  );
  await rawRequest(`${url}/v1/models`, 'GET', { 'accept-encoding': 'gzip, br' });
  assert.equal(up.received[0]?.headers['accept-encoding'], 'identity');
  assert.equal(up.received[1]?.headers['accept-encoding'], 'gzip, br');
});

test('backpressure: a client that stops reading stops the upstream read; resumed, it gets every byte and the usage is exact', async (t) => {
  // An upstream of our own that writes a 48 MB stream as fast as the socket takes it and
  // counts what it got rid of: without backpressure the proxy would swallow all of it.
  const BLOCK = Buffer.from(
    `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(900) } })}\n\n`,
  );
  const blocks = Math.ceil((48 << 20) / BLOCK.length);
  const start = `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_bp', type: 'message', role: 'assistant', content: [], model: SONNET, stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } })}\n\n`;
  const end = `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: blocks } })}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n`;
  let written = 0;
  const upstream = http.createServer(async (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(start);
    for (let i = 0; i < blocks; i++) {
      written += BLOCK.length;
      if (!res.write(BLOCK)) await new Promise((r) => res.once('drain', r));
    }
    res.end(end);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => upstream.close());
  const { app, url } = await startProxy(t, { upstream: `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}` });

  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(
      `${url}/v1/messages`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'k' } },
      resolve,
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model: SONNET, max_tokens: 10, stream: true, messages: [] }));
  });
  res.pause(); // read nothing for a while
  await new Promise((r) => setTimeout(r, 600));
  const stalledAt = written;
  assert.ok(stalledAt < 24 << 20, `the upstream stalled at ${stalledAt} bytes, not at the 48 MB end`);
  let received = 0;
  res.on('data', (c: Buffer) => (received += c.length));
  res.resume(); // an explicit pause() is not undone by a 'data' listener
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise((r) => res.on('end', r)),
    new Promise(
      (_, reject) =>
        (timer = setTimeout(() => reject(new Error(`stuck after ${received} bytes: the upstream read was never resumed`)), 20_000)),
    ),
  ]);
  clearTimeout(timer);
  assert.equal(received, Buffer.byteLength(start) + blocks * BLOCK.length + Buffer.byteLength(end));
  await app.recorder.flush();
  const [rec] = await app.store.recent(1);
  assert.equal(rec?.usage?.output, blocks);
  assert.equal(rec?.partial, false);
});

test('a client that leaves while its request waits for a pooled connection: the request is never sent, and the connection keeps serving', async (t) => {
  const bodies: string[] = [];
  const upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      bodies.push(body);
      // The first request holds the only connection for a while; every answer is 64 KB of JSON.
      setTimeout(
        () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              type: 'message',
              id: 'msg_q',
              model: SONNET,
              content: [{ type: 'text', text: 'x'.repeat(65_536) }],
              usage: { input_tokens: 1, output_tokens: 1 },
            }),
          );
        },
        body.includes('"first"') ? 400 : 0,
      );
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => upstream.close());
  const { url } = await startProxy(t, {
    upstream: `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`,
    config: { upstream: { connections: 1 } },
  });
  const send = (tag: string) =>
    fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
      body: JSON.stringify({ model: SONNET, max_tokens: 1, messages: [], metadata: { user_id: tag } }),
    });

  const first = send('first');
  await new Promise((r) => setTimeout(r, 50));
  const leaving = new AbortController();
  const gone = fetch(`${url}/v1/messages`, {
    method: 'POST',
    signal: leaving.signal,
    headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
    body: JSON.stringify({ model: SONNET, max_tokens: 1, messages: [], metadata: { user_id: 'gone' } }),
  }).catch(() => 'aborted');
  await new Promise((r) => setTimeout(r, 50));
  leaving.abort(); // queued behind "first" on the single upstream connection
  assert.equal((await first).status, 200);
  assert.equal(await gone, 'aborted');
  let timer: NodeJS.Timeout | undefined;
  const after = await Promise.race([
    send('after').then((r) => r.text().then(() => r.status)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the pooled connection is stuck')), 5_000))),
  ]);
  clearTimeout(timer);
  assert.equal(after, 200);
  assert.deepEqual(
    bodies.map((b) => (JSON.parse(b) as { metadata: { user_id: string } }).metadata.user_id),
    ['first', 'after'],
  );
});
