/**
 * A client that leaves before its request is forwarded (while a budget admission awaited
 * Redis): the forwarder must not send it, or the answer nobody reads holds a pooled
 * connection for good. Real sockets, one pooled connection, so a leak blocks the next request.
 * A client that leaves after forwarding but before the response headers is the client's
 * doing: recorded as 499 `client_gone`, never as an upstream failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { PoolForwarder, type ForwardHooks } from '../../src/upstream/forward.ts';
import { recordingLogger, startProxy } from '../helpers/start-proxy.ts';

test('a client gone before forwarding is not sent upstream, ends as aborted, and frees no pooled connection it never took', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1, output_tokens: 1 } }));
  const forwarder = new PoolForwarder({
    url: up.url,
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

test('a client that leaves before the response headers: recorded as 499 client_gone, not counted as an upstream error', async (t) => {
  const up = await startMockAnthropic(t);
  let arrive!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  up.setScenario(() => {
    arrive();
    return { kind: 'hang' };
  });
  const logger = recordingLogger();
  let logged!: () => void;
  const requestLogged = new Promise<void>((r) => (logged = r));
  const info = logger.info;
  logger.info = (obj, msg) => {
    info(obj, msg);
    if (msg === 'request') logged();
  };
  const { app, url } = await startProxy(t, { upstream: up.url, logger });
  const leaving = new AbortController();
  const sent = fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-gone' },
    body: '{"model":"claude-haiku-4-5","max_tokens":5,"messages":[]}',
    signal: leaving.signal,
  });
  await arrived; // forwarded: the upstream has the request and has not answered
  leaving.abort();
  await assert.rejects(sent);
  await requestLogged;
  await app.recorder.flush();
  const [record] = await app.store.recent(10);
  assert.equal(record?.status, 499);
  assert.equal(record?.usageMissing, 'client_gone');
  const line = logger.lines.find((l) => l.msg === 'request');
  assert.equal(line?.obj['status'], 499);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.doesNotMatch(metrics, /claude_meter_upstream_errors_total\{/, 'no upstream error of any reason');
  assert.match(metrics, /claude_meter_usage_missing_total\{reason="client_gone"\} 1/);
  assert.match(metrics, /claude_meter_requests_total\{model="claude-haiku-4-5",upstream="default",status="499"\} 1/);
  assert.ok(!logger.lines.some((l) => l.level === 'warn' || l.level === 'error'), 'no upstream failure logged');
});
