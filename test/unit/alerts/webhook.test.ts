/**
 * WebhookAlerter against a real HTTP receiver on 127.0.0.1:0: exact body, retry policy,
 * timeouts, retry-after, the queue bound, close() and never throwing / never blocking.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { alertPayload } from '../../../src/alerts/format.ts';
import type { AlertEvent, AlertResult } from '../../../src/alerts/types.ts';
import { WebhookAlerter, type WebhookAlerterOptions } from '../../../src/alerts/webhook.ts';
import type { Logger } from '../../../src/lib/logger.ts';

const event: AlertEvent = {
  kind: 'budget_threshold',
  budget: 'team-a',
  instance: 'team-a',
  window: { id: '2026-11-28', start: '2026-11-28T00:00:00.000Z', end: '2026-11-29T00:00:00.000Z' },
  threshold: 0.8,
  spent_usd: 40.12,
  limit_usd: 50,
  spent_tokens: 100,
  limit_tokens: null,
  at: '2026-11-28T15:04:05.000Z',
};

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}
/** Answers each request with `reply(n)` (n = 0-based request number); null = never answer. */
type Reply = (n: number) => { status: number; headers?: Record<string, string>; body?: string } | null;

type T = { after(fn: () => unknown): void };

async function receiver(t: T, reply: Reply) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = got.length;
      got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), at: performance.now() });
      const r = reply(n);
      if (r !== null) res.writeHead(r.status, r.headers).end(r.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  // The path and query stand in for a webhook secret: they must never reach the logs.
  return { got, origin: `http://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/hooks/SECRET?token=SECRET` };
}

function setup(t: T, opts: Partial<WebhookAlerterOptions> & { url: string | null }) {
  const logs: Array<{ level: string; obj: object; msg: string }> = [];
  const keep = (level: string) => (obj: object, msg?: string) => void logs.push({ level, obj, msg: msg ?? '' });
  const logger: Logger = { info: keep('info'), warn: keep('warn'), error: keep('error'), debug: keep('debug') };
  const results: AlertResult[] = [];
  const alerter = new WebhookAlerter({
    timeoutMs: 1_000,
    maxAttempts: 3,
    logger,
    onResult: (r) => void results.push(r),
    backoffMs: () => 5,
    closeTimeoutMs: 200,
    ...opts,
  });
  t.after(() => alerter.close());
  const errors = () => logs.filter((l) => l.level === 'error');
  return { alerter, logs, results, errors };
}

const noSecrets = (logs: Array<{ obj: object; msg: string }>) => {
  for (const l of logs) assert.ok(!JSON.stringify(l).includes('SECRET'), `secret in log: ${JSON.stringify(l)}`);
};

test('delivers the exact JSON with content type and user agent', async (t) => {
  const r = await receiver(t, () => ({ status: 200, body: 'ok' }));
  const { alerter, results, errors, logs } = setup(t, { url: r.url });
  alerter.send(event);
  await alerter.flush();
  assert.equal(r.got.length, 1);
  const req = r.got[0]!;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/hooks/SECRET?token=SECRET');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(req.headers['user-agent'], 'claude-meter');
  assert.deepEqual(JSON.parse(req.body), { ...event, text: alertPayload(event).text });
  assert.equal(
    JSON.parse(req.body).text,
    ":warning: claude-meter: budget 'team-a' (instance team-a, window 2026-11-28) reached 80% of $50.00: spent $40.12",
  );
  assert.deepEqual(results, ['sent']);
  assert.equal(errors().length, 0);
  noSecrets(logs);
});

test('500, 500, then 200: delivered once after two retries', async (t) => {
  const r = await receiver(t, (n) => ({ status: n < 2 ? 500 : 204 }));
  const { alerter, results, errors } = setup(t, { url: r.url, maxAttempts: 3 });
  alerter.send(event);
  await alerter.flush();
  assert.equal(r.got.length, 3);
  assert.ok(r.got.every((g) => g.body === r.got[0]!.body));
  assert.deepEqual(results, ['retried', 'retried', 'sent']);
  assert.equal(errors().length, 0);
});

test('500 on every attempt: failed after maxAttempts, one error log with origin only', async (t) => {
  const r = await receiver(t, () => ({ status: 502, body: 'bad gateway' }));
  const { alerter, results, errors, logs } = setup(t, { url: r.url, maxAttempts: 3 });
  alerter.send(event);
  await alerter.flush();
  assert.equal(r.got.length, 3);
  assert.deepEqual(results, ['retried', 'retried', 'failed']);
  assert.equal(errors().length, 1);
  assert.deepEqual(errors()[0]!.obj, { alert: 'budget_threshold', budget: 'team-a', target: r.origin, attempts: 3, status: 502, response: 'bad gateway' });
  noSecrets(logs);
});

test('400 is not retried', async (t) => {
  const r = await receiver(t, () => ({ status: 400, body: 'invalid_payload' }));
  const { alerter, results, errors, logs } = setup(t, { url: r.url, maxAttempts: 5 });
  alerter.send(event);
  await alerter.flush();
  assert.equal(r.got.length, 1);
  assert.deepEqual(results, ['failed']);
  assert.equal(errors().length, 1);
  assert.deepEqual(errors()[0]!.obj, { alert: 'budget_threshold', budget: 'team-a', target: r.origin, attempts: 1, status: 400, response: 'invalid_payload' });
  noSecrets(logs);
});

test('a receiver that never answers: each attempt times out, then failed', async (t) => {
  const r = await receiver(t, () => null);
  const { alerter, results, errors } = setup(t, { url: r.url, timeoutMs: 100, maxAttempts: 2 });
  const t0 = performance.now();
  alerter.send(event);
  await alerter.flush();
  assert.ok(performance.now() - t0 >= 190, 'two attempts of 100 ms');
  assert.equal(r.got.length, 2);
  assert.deepEqual(results, ['retried', 'failed']);
  assert.equal(errors().length, 1);
  assert.match(JSON.stringify(errors()[0]!.obj), /timeout after 100 ms/);
});

test('retry-after on 429 and 503 replaces the backoff; ignored on other statuses', async (t) => {
  const statuses = [429, 503, 500, 200];
  const r = await receiver(t, (n) => ({ status: statuses[n] ?? 200, headers: { 'retry-after': '0.3' } }));
  const { alerter, results } = setup(t, { url: r.url, maxAttempts: 4, backoffMs: () => 1 });
  alerter.send(event);
  await alerter.flush();
  assert.equal(r.got.length, 4);
  const gaps = r.got.slice(1).map((g, i) => g.at - r.got[i]!.at);
  assert.ok(gaps[0]! >= 280 && gaps[1]! >= 280, `retry-after waited: ${gaps.join(', ')}`);
  assert.ok(gaps[2]! < 250, `500's retry-after ignored: ${gaps[2]}`);
  assert.deepEqual(results, ['retried', 'retried', 'retried', 'sent']);
});

test('never throws: invalid URL, unsupported protocol, unreachable host', async (t) => {
  for (const url of ['not a url SECRET', 'ftp://127.0.0.1/SECRET']) {
    const { alerter, results, errors, logs } = setup(t, { url });
    assert.doesNotThrow(() => alerter.send(event));
    await alerter.flush();
    assert.deepEqual(results, ['failed']);
    assert.equal(errors().length, 2, 'one at construction, one for the alert');
    noSecrets(logs);
  }
  // A port that was just free: connection refused. Keep the loop alive: retry timers are unref'd.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const keepAlive = setInterval(() => {}, 1_000);
  t.after(() => clearInterval(keepAlive));
  const { alerter, results, errors, logs } = setup(t, { url: `http://127.0.0.1:${port}/SECRET`, maxAttempts: 2 });
  assert.doesNotThrow(() => alerter.send(event));
  await alerter.flush();
  assert.deepEqual(results, ['retried', 'failed']);
  assert.match(JSON.stringify(errors()[0]!.obj), /ECONNREFUSED/);
  noSecrets(logs);
});

test('send() returns before the receiver gets the request', async (t) => {
  const r = await receiver(t, () => ({ status: 200 }));
  const { alerter, results } = setup(t, { url: r.url });
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) alerter.send(event);
  const took = performance.now() - t0;
  assert.equal(r.got.length, 0);
  assert.ok(took < 50, `send() took ${took} ms`);
  await alerter.flush();
  assert.equal(r.got.length, 10);
  assert.ok(r.got[0]!.at > t0 + took);
  assert.deepEqual(results, Array(10).fill('sent'));
});

test('queue bound: beyond maxPending alerts are dropped, logged once, and close() cancels the rest', async (t) => {
  const r = await receiver(t, () => null);
  const { alerter, results, errors } = setup(t, { url: r.url, timeoutMs: 10_000, maxPending: 3, concurrency: 1, closeTimeoutMs: 50 });
  for (let i = 0; i < 5; i++) alerter.send(event);
  assert.deepEqual(results, ['failed', 'failed']);
  assert.equal(errors().filter((e) => e.msg.includes('queue full')).length, 1);
  const t0 = performance.now();
  await alerter.close();
  assert.ok(performance.now() - t0 < 1_000, 'close() does not wait for the 10 s timeout');
  assert.deepEqual(results, Array(5).fill('failed'));
  assert.equal(r.got.length, 1, 'concurrency 1: only one request was started');
  alerter.send(event); // after close: failed, not queued, no throw
  assert.equal(results.length, 6);
});

test('close() cancels a pending retry after its deadline', async (t) => {
  const r = await receiver(t, () => ({ status: 500 }));
  const { alerter, results, errors } = setup(t, { url: r.url, maxAttempts: 5, backoffMs: () => 60_000, closeTimeoutMs: 50 });
  alerter.send(event);
  while (r.got.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const t0 = performance.now();
  await alerter.close();
  assert.ok(performance.now() - t0 < 1_000);
  assert.deepEqual(results, ['failed']);
  assert.match(JSON.stringify(errors()[0]!.obj), /cancelled/);
});

test('url null: send() is a no-op logged at debug', async (t) => {
  const { alerter, results, logs } = setup(t, { url: null });
  alerter.send(event);
  await alerter.flush();
  assert.deepEqual(results, []);
  assert.deepEqual(logs.map((l) => l.level), ['debug']);
});

test('a throwing logger or onResult never escapes send()', async (t) => {
  const boom = () => {
    throw new Error('boom');
  };
  const logger: Logger = { info: boom, warn: boom, error: boom, debug: boom };
  const r = await receiver(t, () => ({ status: 400 }));
  const alerter = new WebhookAlerter({ url: r.url, timeoutMs: 1_000, maxAttempts: 1, logger, onResult: boom });
  t.after(() => alerter.close());
  assert.doesNotThrow(() => alerter.send(event));
  await alerter.flush();
  const nullUrl = new WebhookAlerter({ url: null, timeoutMs: 1_000, maxAttempts: 1, logger, onResult: boom });
  assert.doesNotThrow(() => nullUrl.send(event));
});

test('a pending retry does not keep the process alive', () => {
  const webhook = fileURLToPath(new URL('../../../src/alerts/webhook.ts', import.meta.url));
  const script = `
    import http from 'node:http';
    const { WebhookAlerter } = await import(${JSON.stringify(webhook)});
    const server = http.createServer((req, res) => req.resume().on('end', () => {
      res.writeHead(503, { connection: 'close' }).end();
      server.close();
    }));
    server.listen(0, '127.0.0.1', () => {
      const a = new WebhookAlerter({ url: 'http://127.0.0.1:' + server.address().port + '/', timeoutMs: 5000, maxAttempts: 3,
        logger: { info() {}, warn() {}, error() {}, debug() {} }, backoffMs: () => 60000 });
      a.send({ kind: 'spend_spike', budget: 'b', instance: '*', rate_usd_per_hour: 2, expected_usd_per_hour: 1, multiple: 2, offender: {}, at: '' });
    });`;
  const t0 = performance.now();
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.ok(performance.now() - t0 < 20_000, 'exited without waiting for the 60 s retry');
});
