/**
 * A client that leaves before its request is forwarded (while a budget admission awaited
 * Redis): the forwarder must not send it, or the answer nobody reads holds a pooled
 * connection for good. Real sockets, one pooled connection, so a leak blocks the next request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { PoolForwarder, type ForwardHooks } from '../../src/upstream/forward.ts';

test('a client gone before forwarding is not sent upstream, ends as aborted, and frees no pooled connection it never took', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1, output_tokens: 1 } }));
  const forwarder = new PoolForwarder({
    url: up.url,
    apiKey: null,
    credentialHeaders: ['x-api-key', 'authorization'],
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    connectTimeoutMs: 1000,
    connections: 1,
  });
  t.after(() => forwarder.close());
  const ends: string[] = [];
  let ended!: () => void;
  const firstEnded = new Promise<void>((r) => (ended = r));
  const hooks = (): ForwardHooks => ({
    onResponseStart: () => {},
    onData: () => {},
    onEnd: (how) => (ends.push(how), ended()),
    onError: () => {},
  });
  let first = true;
  let arrive!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  const server = http.createServer((req, res) => {
    const body = Buffer.from('{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[]}');
    const out = { target: '/v1/messages', credential: null, body, encoding: 'identity' } as const;
    if (!first) return forwarder.forward(req, res, out, hooks());
    first = false;
    arrive();
    // Forward only after the client has gone, as after an admission that outlasted it.
    res.once('close', () => setImmediate(() => forwarder.forward(req, res, out, hooks())));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/messages`;
  const gone = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } });
  gone.on('error', () => {});
  gone.end('{}');
  await arrived;
  gone.destroy();
  await firstEnded;
  assert.deepEqual(ends, ['aborted']);
  assert.equal(up.received.length, 0, 'nothing was sent for the client that left');
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(3000),
  });
  assert.equal(res.status, 200, 'the one pooled connection is free for the next request');
  await res.arrayBuffer();
  assert.equal(up.received.length, 1);
});
