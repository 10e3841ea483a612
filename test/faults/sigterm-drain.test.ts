/**
 * The process lifecycle of the built command (`node bin/claude-meter.js start`, a real child
 * process): SIGTERM with keep-alive clients idle, with a stream that ends inside the drain
 * deadline and with one that outlasts it, the records read back from a real Redis after the
 * exit; and a start on an unreachable Redis. The child's JSON log lines (a pipe, so JSON) are
 * read as they come.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { Redis } from 'ioredis';
import { messageStream, startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { freePort, startRedis } from '../helpers/redis-server.ts';
import { within } from '../helpers/wait.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import type { RequestRecord } from '../../src/store/types.ts';

const BIN = resolve('bin/claude-meter.js');
const BODY = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'x' }] });
const USAGE = { input_tokens: 120, output_tokens: 40 };

interface Line {
  msg: string;
  level: number;
  listen?: string;
  upstream?: string;
  status?: number;
  partial?: boolean;
  usage?: { input: number; output: number } | null;
  usage_missing?: string;
  err?: string;
  [k: string]: unknown;
}

interface Proxy {
  child: ChildProcess;
  url: string;
  lines: Line[];
  /** Resolves with the first line that satisfies `pred` (one already seen included). */
  line(pred: (l: Line) => boolean, ms?: number): Promise<Line>;
  /** SIGTERM; resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

async function startBin(t: TestContext, yaml: string, env: Record<string, string>): Promise<Proxy> {
  const dir = mkdtempSync(join(tmpdir(), 'cm-shutdown-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, `listen:\n  host: 127.0.0.1\n${yaml}`);
  const child = spawn(process.execPath, [BIN, 'start', '--config', file], {
    env: { ...process.env, CLAUDE_METER_CONFIG: '', REDIS_URL: '', PORT: '0', CLAUDE_METER_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines: Line[] = [];
  const watchers = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    lines.push(JSON.parse(text) as Line);
    for (const w of watchers) w();
  });
  const line = (pred: (l: Line) => boolean, ms = 10_000): Promise<Line> =>
    within(
      'a log line',
      new Promise<Line>((ok, fail) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit === undefined) return;
          watchers.delete(check);
          ok(hit);
        };
        watchers.add(check);
        check();
        // Exited without it (a refusal): say why.
        void exited.then(() =>
          setImmediate(() => fail(new Error(`no such line; stderr: ${stderr}; lines: ${JSON.stringify(lines.map((l) => l.msg))}`))),
        );
      }),
      ms,
    );
  const first = await line((l) => l.listen !== undefined);
  return {
    child,
    url: first.listen as string,
    lines,
    line,
    async stop(signal = 'SIGTERM') {
      const t0 = performance.now();
      child.kill(signal);
      const [code] = await within('the proxy to exit', exited, 20_000);
      return { code, ms: performance.now() - t0 };
    },
  };
}

/** The records in a Redis the proxy has exited from. */
async function storedRecords(t: TestContext, url: string): Promise<RequestRecord[]> {
  const store = new RedisStore(new Redis(url), { prefix: 'cm', bucketTtlSeconds: 3600, recordsMaxLen: 1000 });
  t.after(() => store.close());
  return store.recent(100);
}

/** A keep-alive client, as fetch-based SDKs are: its idle sockets would hold a plain server.close() for over a minute. */
function keepAliveAgent(t: TestContext): Agent {
  const agent = new Agent({ keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 });
  t.after(() => agent.destroy());
  return agent;
}

/** An upstream SSE stream that sends `first`, then waits for the returned release before the rest. */
function gatedStream(): {
  first: string;
  rest: string;
  scenario: { kind: 'gated'; headers: Record<string, string>; first: string; rest: string; gate: Promise<void> };
  release: () => void;
} {
  const full = messageStream({ usage: USAGE, model: 'claude-haiku-4-5-20251001', text: 'one two three four' });
  const cut = full.indexOf('event: content_block_stop');
  const [first, rest] = [full.slice(0, cut), full.slice(cut)];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return { first, rest, release, scenario: { kind: 'gated', headers: { 'content-type': 'text/event-stream' }, first, rest, gate } };
}

async function post(url: string, agent: Agent) {
  return request(`${url}/v1/messages`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-drain' },
    body: BODY,
  });
}

test('SIGTERM with idle keep-alive clients: exits 0 at once, far inside the drain deadline', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const proxy = await startBin(t, '', { UPSTREAM_URL: up.url });
  const agent = keepAliveAgent(t);
  for (let i = 0; i < 3; i++) {
    const res = await post(proxy.url, agent);
    assert.equal(res.statusCode, 200);
    await res.body.text();
  }
  await proxy.line((l) => l.msg === 'request' && proxy.lines.filter((x) => x.msg === 'request').length === 3);
  const { code, ms } = await proxy.stop();
  assert.equal(code, 0);
  assert.ok(ms < 3_000, `exited after ${Math.round(ms)} ms; the default deadline is 8 s`);
  const shutdown = await proxy.line((l) => l.msg.startsWith('shutting down'));
  assert.equal(shutdown['drain_timeout_ms'], 8_000);
  assert.ok(!proxy.lines.some((l) => l.msg.startsWith('drain deadline')), 'nothing was cut');
});

test('SIGTERM while a stream is in flight on a keep-alive connection: the client gets the whole stream, the record is complete, exit 0 soon after', async (t) => {
  const up = await startMockAnthropic(t);
  const s = gatedStream();
  up.setScenario(() => s.scenario);
  const redis = await startRedis({ t });
  const proxy = await startBin(t, '', { UPSTREAM_URL: up.url, REDIS_URL: redis.url });
  const agent = keepAliveAgent(t);
  const res = await post(proxy.url, agent);
  assert.equal(res.statusCode, 200);
  const body = res.body[Symbol.asyncIterator]();
  let got = Buffer.from(((await body.next()).value as Buffer) ?? []).toString();
  assert.ok(s.first.startsWith(got) && got.length > 0, 'the stream has begun');

  const stopping = proxy.stop();
  await proxy.line((l) => l.msg.startsWith('shutting down'));
  const released = performance.now();
  s.release();
  for (let c = await body.next(); !c.done; c = await body.next()) got += Buffer.from(c.value as Buffer).toString();
  assert.equal(got, s.first + s.rest, 'every byte of the stream reached the client');
  const { code } = await stopping;
  assert.equal(code, 0);
  const afterStream = performance.now() - released;
  assert.ok(
    afterStream < 3_000,
    `exited ${Math.round(afterStream)} ms after the stream ended: the idle keep-alive connection did not hold it`,
  );
  const [record, ...more] = await storedRecords(t, redis.url);
  assert.equal(more.length, 0);
  assert.deepEqual(
    [record?.status, record?.partial, record?.usage?.input, record?.usage?.output],
    [200, false, 120, 40],
    'written before the exit, complete',
  );
  assert.ok(!proxy.lines.some((l) => l.msg.startsWith('drain deadline')));
});

test('SIGTERM with a stream that outlasts listen.drain_timeout_ms: cut at the deadline, recorded as partial, exit 0', async (t) => {
  const up = await startMockAnthropic(t);
  const s = gatedStream(); // never released: the upstream stalls mid-stream
  up.setScenario(() => s.scenario);
  const redis = await startRedis({ t });
  const proxy = await startBin(t, '  drain_timeout_ms: 300\n', { UPSTREAM_URL: up.url, REDIS_URL: redis.url });
  const agent = keepAliveAgent(t);
  const res = await post(proxy.url, agent);
  const body = res.body[Symbol.asyncIterator]();
  const first = Buffer.from((await body.next()).value as Buffer).toString();
  assert.ok(first.length > 0);
  const readRest = (async () => {
    for (let c = await body.next(); !c.done; c = await body.next());
  })().then(
    () => 'ended cleanly',
    (err: unknown) => err,
  );

  const { code, ms } = await proxy.stop();
  assert.equal(code, 0);
  assert.ok(ms >= 300, `cut at the deadline, not before (${Math.round(ms)} ms)`);
  assert.ok(ms < 3_000, `exited ${Math.round(ms)} ms after SIGTERM with a 300 ms deadline`);
  assert.ok((await readRest) instanceof Error, 'the client sees the stream cut, not a clean end');
  const cut = await proxy.line((l) => l.msg.startsWith('drain deadline'));
  assert.equal(cut['in_flight'], 1);
  const [record, ...more] = await storedRecords(t, redis.url);
  assert.equal(more.length, 0);
  assert.deepEqual(
    [record?.status, record?.partial, record?.usage?.input],
    [200, true, 120],
    'written before the exit, partial, with the usage seen before the cut',
  );
  assert.equal(up.received.length, 1);
});

test('start on an unreachable Redis: serves, says so after the first line; the first line shows the upstream origin only', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const port = await freePort(); // nothing listens there
  const token = 'relay-path-tok-9c2e';
  const proxy = await startBin(t, '', { UPSTREAM_URL: `${up.url}/relay/${token}`, REDIS_URL: `redis://127.0.0.1:${port}` });
  const [first] = proxy.lines;
  assert.equal(first?.upstream, `${up.url}/***`);
  assert.ok(!JSON.stringify(first).includes(token), 'the relay token is in neither the field nor the config dump');
  const warn = await proxy.line((l) => l.msg.startsWith('redis unreachable at start-up'));
  assert.match(warn.err ?? '', /ECONNREFUSED/);
  const res = await fetch(`${proxy.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-x' },
    body: BODY.replace('"stream":true', '"stream":false'),
  });
  assert.equal(res.status, 200, 'traffic flows without Redis');
  await res.arrayBuffer();
  assert.equal(up.received[0]?.url, `/relay/${token}/v1/messages`);
  const health = await fetch(`${proxy.url}/_meter/health`);
  assert.equal(health.status, 503);
  assert.ok(!(await health.text()).includes(token));
  const { code } = await proxy.stop('SIGINT');
  assert.equal(code, 0, 'SIGINT drains and exits like SIGTERM');
});
