/**
 * WebhookAlerter against a real HTTP receiver on 127.0.0.1:0: exact body, retry policy,
 * timeouts, retry-after, the queue bound, close() and never throwing / never blocking.
 * Its timers (attempt timeouts, backoff, close()'s deadline) are on a ManualClock: a test
 * moves time once the alerter waits on it, and waits (bounded) only for the receiver.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { alertPayload } from '../../../src/alerts/format.ts';
import type { AlertEvent, AlertResult } from '../../../src/alerts/types.ts';
import { defaultBackoffMs, WebhookAlerter, type WebhookAlerterOptions } from '../../../src/alerts/webhook.ts';
import type { Logger } from '../../../src/lib/logger.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { within } from '../../helpers/wait.ts';

const event: AlertEvent = {
  kind: 'budget_threshold',
  budget: 'team-a',
  instance: 'team-a',
  window: { id: '2026-11-28', start: '2026-11-28T00:00:00.000Z', end: '2026-11-29T00:00:00.000Z' },
  threshold: 0.8,
  currency: 'USD',
  spent: 40.12,
  limit: 50,
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
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  /** Resolves once `n` requests have arrived. */
  const arrived = (n: number): Promise<void> =>
    within(
      `request ${n} at the receiver`,
      got.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
      5_000,
    );
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = got.length;
      got.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: performance.now(),
      });
      for (const w of waiters.filter((x) => x.n <= got.length)) w.resolve();
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
  return { got, arrived, origin: `http://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/hooks/SECRET?token=SECRET` };
}

/** `backoffMs: null` keeps the alerter's default backoff; otherwise retries wait 5 ms unless told. */
function setup(
  t: T,
  opts: Partial<Omit<WebhookAlerterOptions, 'backoffMs'>> & { url: string | null; backoffMs?: WebhookAlerterOptions['backoffMs'] | null },
) {
  const clock = new ManualClock(0);
  const { backoffMs = () => 5, ...rest } = opts;
  const logs: Array<{ level: string; obj: object; msg: string }> = [];
  const keep = (level: string) => (obj: object, msg?: string) => void logs.push({ level, obj, msg: msg ?? '' });
  const logger: Logger = { info: keep('info'), warn: keep('warn'), error: keep('error'), debug: keep('debug') };
  const results: AlertResult[] = [];
  const alerter = new WebhookAlerter({
    timeoutMs: 1_000,
    maxAttempts: 3,
    logger,
    clock,
    onResult: (r) => void results.push(r),
    closeTimeoutMs: 200,
    ...(backoffMs === null ? {} : { backoffMs }),
    ...rest,
  });
  t.after(() => clock.until(alerter.close()));
  const errors = () => logs.filter((l) => l.level === 'error');
  /**
   * Runs every accepted alert to its end: whenever a retry's backoff is armed (any timer but an
   * attempt's timeout), moves the clock past it. Returns those backoffs, in order.
   */
  const deliver = async (): Promise<number[]> => {
    const timeoutMs = opts.timeoutMs ?? 1_000;
    const backoffs: number[] = [];
    const flushed = alerter.flush().then(() => null);
    for (;;) {
      const ms = await within('a backoff or the end of deliveries', Promise.race([flushed, clock.armed((d) => d !== timeoutMs)]), 5_000);
      if (ms === null) return backoffs;
      backoffs.push(ms);
      await clock.advance(ms);
    }
  };
  /** The delay of the next timer `match` accepts, once the alerter arms it. */
  const armed = (match: (delayMs: number) => boolean): Promise<number> =>
    within('the alerter to wait on its clock', clock.armed(match), 5_000);
  return { clock, alerter, logs, results, errors, deliver, armed };
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

test('a yuan budget reaches the webhook in yuan: its currency, its amounts, null dollars and a ¥ text', async (t) => {
  const r = await receiver(t, () => ({ status: 200, body: 'ok' }));
  const { alerter } = setup(t, { url: r.url });
  alerter.send({ ...event, currency: 'CNY', spent: 2412.5, limit: 3000, spent_usd: null, limit_usd: null });
  await alerter.flush();
  const body = JSON.parse(r.got[0]!.body) as Record<string, unknown>;
  assert.deepEqual(
    [body['currency'], body['spent'], body['limit'], body['spent_usd'], body['limit_usd']],
    ['CNY', 2412.5, 3000, null, null],
  );
  assert.equal(
    body['text'],
    ":warning: claude-meter: budget 'team-a' (instance team-a, window 2026-11-28) reached 80% of ¥3,000.00: spent ¥2,412.50",
  );
});

test('500, 500, then 200: delivered once after two retries', async (t) => {
  const r = await receiver(t, (n) => ({ status: n < 2 ? 500 : 204 }));
  const { alerter, results, errors, deliver } = setup(t, { url: r.url, maxAttempts: 3 });
  alerter.send(event);
  assert.deepEqual(await deliver(), [5, 5], 'the backoff before each retry');
  assert.equal(r.got.length, 3);
  assert.ok(r.got.every((g) => g.body === r.got[0]!.body));
  assert.deepEqual(results, ['retried', 'retried', 'sent']);
  assert.equal(errors().length, 0);
});

test('500 on every attempt: failed after maxAttempts, one error log with origin only', async (t) => {
  const r = await receiver(t, () => ({ status: 502, body: 'bad gateway' }));
  const { alerter, results, errors, logs, deliver } = setup(t, { url: r.url, maxAttempts: 3 });
  alerter.send(event);
  await deliver();
  assert.equal(r.got.length, 3);
  assert.deepEqual(results, ['retried', 'retried', 'failed']);
  assert.equal(errors().length, 1);
  assert.deepEqual(errors()[0]!.obj, {
    alert: 'budget_threshold',
    budget: 'team-a',
    target: r.origin,
    attempts: 3,
    status: 502,
    response: 'bad gateway',
  });
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
  assert.deepEqual(errors()[0]!.obj, {
    alert: 'budget_threshold',
    budget: 'team-a',
    target: r.origin,
    attempts: 1,
    status: 400,
    response: 'invalid_payload',
  });
  noSecrets(logs);
});

test('a receiver that never answers: each attempt times out, then failed', async (t) => {
  const r = await receiver(t, () => null);
  const { clock, alerter, results, errors, armed } = setup(t, { url: r.url, timeoutMs: 100, maxAttempts: 2 });
  const t0 = clock.now();
  alerter.send(event);
  for (const n of [1, 2]) {
    await r.arrived(n);
    assert.equal(await armed((d) => d === 100), 100, `attempt ${n} waits its timeout`);
    await clock.advance(99);
    assert.equal(results.length, n - 1, `attempt ${n} still waits 1 ms before its timeout`);
    await clock.advance(1);
    if (n === 1) await clock.advance(await armed((d) => d !== 100)); // the backoff
  }
  await alerter.flush();
  assert.ok(clock.now() - t0 >= 190, 'two attempts of 100 ms');
  assert.equal(r.got.length, 2);
  assert.deepEqual(results, ['retried', 'failed']);
  assert.equal(errors().length, 1);
  assert.match(JSON.stringify(errors()[0]!.obj), /timeout after 100 ms/);
});

test('the default backoff: 500 ms doubling to a 30 s cap, with equal jitter drawn from the clock', async (t) => {
  assert.deepEqual(
    [1, 2, 3].map((a) => defaultBackoffMs(a, 0)),
    [250, 500, 1_000],
  );
  assert.deepEqual(
    [1, 2, 3].map((a) => defaultBackoffMs(a, 0.5)),
    [375, 750, 1_500],
  );
  assert.equal(defaultBackoffMs(20, 0.5), 22_500, 'capped: 30 s base');
  const r = await receiver(t, (n) => ({ status: n < 2 ? 500 : 200 }));
  const { alerter, deliver } = setup(t, { url: r.url, maxAttempts: 3, backoffMs: null });
  alerter.send(event);
  assert.deepEqual(await deliver(), [375, 750], 'a ManualClock draws 0.5');
});

test('retry-after on 429 and 503 replaces the backoff; ignored on other statuses', async (t) => {
  const statuses = [429, 503, 500, 200];
  const r = await receiver(t, (n) => ({ status: statuses[n] ?? 200, headers: { 'retry-after': '0.3' } }));
  const { alerter, results, deliver } = setup(t, { url: r.url, maxAttempts: 4, backoffMs: () => 1 });
  alerter.send(event);
  const gaps = await deliver();
  assert.equal(r.got.length, 4);
  assert.deepEqual(gaps, [300, 300, 1]);
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
  // A port that was just free: connection refused.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const { alerter, results, errors, logs, deliver } = setup(t, { url: `http://127.0.0.1:${port}/SECRET`, maxAttempts: 2 });
  assert.doesNotThrow(() => alerter.send(event));
  await deliver();
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
  const { clock, alerter, results, errors, armed } = setup(t, {
    url: r.url,
    timeoutMs: 10_000,
    maxPending: 3,
    concurrency: 1,
    closeTimeoutMs: 50,
  });
  for (let i = 0; i < 5; i++) alerter.send(event);
  assert.deepEqual(results, ['failed', 'failed']);
  assert.equal(errors().filter((e) => e.msg.includes('queue full')).length, 1);
  await r.arrived(1);
  const t0 = clock.now();
  const closing = alerter.close();
  await clock.advance(await armed((d) => d === 50));
  await closing;
  assert.ok(clock.now() - t0 < 1_000, 'close() does not wait for the 10 s timeout');
  assert.deepEqual(results, Array(5).fill('failed'));
  assert.equal(r.got.length, 1, 'concurrency 1: only one request was started');
  alerter.send(event); // after close: failed, not queued, no throw
  assert.equal(results.length, 6);
});

test('close() cancels a pending retry after its deadline', async (t) => {
  const r = await receiver(t, () => ({ status: 500 }));
  const { clock, alerter, results, errors, armed } = setup(t, { url: r.url, maxAttempts: 5, backoffMs: () => 60_000, closeTimeoutMs: 50 });
  alerter.send(event);
  assert.equal(await armed((d) => d !== 1_000), 30_000, 'the first attempt failed: its retry waits, capped at 30 s');
  const t0 = clock.now();
  const closing = alerter.close();
  await clock.advance(await armed((d) => d === 50));
  await closing;
  assert.ok(clock.now() - t0 < 1_000);
  assert.deepEqual(results, ['failed']);
  assert.match(JSON.stringify(errors()[0]!.obj), /cancelled/);
});

test('url null: send() is a no-op logged at debug', async (t) => {
  const { alerter, results, logs } = setup(t, { url: null });
  alerter.send(event);
  await alerter.flush();
  assert.deepEqual(results, []);
  assert.deepEqual(
    logs.map((l) => l.level),
    ['debug'],
  );
});

test('a throwing logger or onResult never escapes send()', async (t) => {
  const boom = () => {
    throw new Error('boom');
  };
  const logger: Logger = { info: boom, warn: boom, error: boom, debug: boom };
  const r = await receiver(t, () => ({ status: 400 }));
  const clock = new ManualClock(0);
  const alerter = new WebhookAlerter({ url: r.url, timeoutMs: 1_000, maxAttempts: 1, logger, clock, onResult: boom });
  t.after(() => alerter.close());
  assert.doesNotThrow(() => alerter.send(event));
  await alerter.flush();
  const nullUrl = new WebhookAlerter({ url: null, timeoutMs: 1_000, maxAttempts: 1, logger, clock, onResult: boom });
  assert.doesNotThrow(() => nullUrl.send(event));
});

test('a pending retry does not keep the process alive', () => {
  const webhook = fileURLToPath(new URL('../../../src/alerts/webhook.ts', import.meta.url));
  const clock = fileURLToPath(new URL('../../../src/lib/clock.ts', import.meta.url));
  const script = `
    import http from 'node:http';
    const { WebhookAlerter } = await import(${JSON.stringify(webhook)});
    const { systemClock } = await import(${JSON.stringify(clock)});
    const server = http.createServer((req, res) => req.resume().on('end', () => {
      res.writeHead(503, { connection: 'close' }).end();
      server.close();
    }));
    server.listen(0, '127.0.0.1', () => {
      const a = new WebhookAlerter({ url: 'http://127.0.0.1:' + server.address().port + '/', timeoutMs: 5000, maxAttempts: 3,
        logger: { info() {}, warn() {}, error() {}, debug() {} }, clock: systemClock, backoffMs: () => 60000 });
      a.send({ kind: 'spend_spike', budget: 'b', instance: '*', currency: 'USD', rate_per_hour: 2, expected_per_hour: 1, rate_usd_per_hour: 2, expected_usd_per_hour: 1, multiple: 2, offender: {}, at: '' });
    });`;
  const t0 = performance.now();
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    timeout: 30_000,
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  assert.ok(performance.now() - t0 < 20_000, 'exited without waiting for the 60 s retry');
});
