/**
 * The fault guarantees of one process, held by each of two workers (`start --workers 2`, the
 * built command): SIGTERM to the primary drains every worker (a stream in flight arrives whole
 * and is recorded complete) and the primary exits 0 once they have; a start on an unreachable
 * Redis serves from both workers; a worker killed outright is logged and replaced.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { Redis } from 'ioredis';
import { messageStream, startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { freePort, startRedis } from '../helpers/redis-server.ts';
import { startWorkers } from '../helpers/workers-process.ts';
import { RedisStore } from '../../src/store/redis-store.ts';

const BODY = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'x' }] });
const USAGE = { input_tokens: 120, output_tokens: 40 };

function agent(t: TestContext): Agent {
  const a = new Agent({ keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 });
  t.after(() => a.destroy());
  return a;
}

test('SIGTERM to the primary with a stream in flight on one worker and idle keep-alive clients on both: the stream arrives whole, its record is complete, every worker drains, exit 0', async (t) => {
  const up = await startMockAnthropic(t);
  const full = messageStream({ usage: USAGE, model: 'claude-haiku-4-5-20251001', text: 'one two three four' });
  const cut = full.indexOf('event: content_block_stop');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let first = true;
  up.setScenario(() => {
    if (!first) return { kind: 'message', usage: USAGE };
    first = false;
    return { kind: 'gated', headers: { 'content-type': 'text/event-stream' }, first: full.slice(0, cut), rest: full.slice(cut), gate };
  });
  const redis = await startRedis({ t });
  const p = await startWorkers(t, { env: { UPSTREAM_URL: up.url, REDIS_URL: redis.url } });
  const streaming = agent(t);
  const res = await request(`${p.url}/v1/messages`, {
    method: 'POST',
    dispatcher: streaming,
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-drain' },
    body: BODY,
  });
  assert.equal(res.statusCode, 200);
  const body = res.body[Symbol.asyncIterator]();
  let got = Buffer.from((await body.next()).value as Buffer).toString();
  // Idle keep-alive connections, on both workers (new connections go to the workers in turn).
  const idle = agent(t);
  for (let i = 0; i < 4; i++) {
    const r = await request(`${p.url}/_meter/health`, { dispatcher: i % 2 ? idle : agent(t) });
    await r.body.text();
  }

  const stopping = p.stop();
  await p.line((l) => l.msg.startsWith('shutting down: every worker'));
  await Promise.all([1, 2].map((n) => p.line((l) => l.worker === n && l.msg.startsWith('shutting down: closing idle'))));
  release();
  for (let c = await body.next(); !c.done; c = await body.next()) got += Buffer.from(c.value as Buffer).toString();
  assert.equal(got, full, 'every byte of the stream reached the client');
  const { code, ms } = await stopping;
  assert.equal(code, 0);
  assert.ok(ms < 5_000, `exited ${Math.round(ms)} ms after SIGTERM`);
  assert.ok(!p.lines.some((l) => l.msg.startsWith('drain deadline')), 'nothing was cut');
  const store = new RedisStore(new Redis(redis.url), { prefix: 'cm', bucketTtlSeconds: 3600, recordsMaxLen: 1000 });
  t.after(() => store.close());
  const records = await store.recent(100);
  const streamed = records.filter((r) => r.usage?.output === 40 && r.status === 200);
  assert.equal(streamed.length, 1, 'the stream was recorded once');
  assert.equal(streamed[0]?.partial, false, 'complete, written before the exit');
  assert.deepEqual(p.torn, []);
});

test('two workers on an unreachable Redis: each says so, both serve, SIGINT drains both and exits 0', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const port = await freePort(); // nothing listens there
  const p = await startWorkers(t, { env: { UPSTREAM_URL: up.url, REDIS_URL: `redis://127.0.0.1:${port}` } });
  const warns = await Promise.all([1, 2].map((n) => p.line((l) => l.worker === n && l.msg.startsWith('redis unreachable at start-up'))));
  for (const w of warns) assert.match(String(w['err']), /ECONNREFUSED/);
  for (let i = 0; i < 4; i++) {
    const a = new Agent();
    const res = await request(`${p.url}/v1/messages`, {
      method: 'POST',
      dispatcher: a,
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-x' },
      body: BODY.replace('"stream":true', '"stream":false'),
    });
    assert.equal(res.statusCode, 200, 'traffic flows without Redis');
    await res.body.text();
    await a.close();
  }
  await p.line(() => p.lines.filter((l) => l.msg === 'request').length === 4);
  assert.deepEqual(new Set(p.lines.filter((l) => l.msg === 'request').map((l) => l.worker)), new Set([1, 2]));
  const { code } = await p.stop('SIGINT');
  assert.equal(code, 0);
});

test('a worker killed outright is logged and replaced in its slot; the port keeps serving', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: USAGE }));
  const redis = await startRedis({ t });
  const p = await startWorkers(t, { env: { UPSTREAM_URL: up.url, REDIS_URL: redis.url } });
  const two = await p.line((l) => l.msg === 'worker 2 serving');
  process.kill(two.pid as number, 'SIGKILL');
  const died = await p.line((l) => l.msg.startsWith('worker exited unexpectedly'));
  assert.deepEqual([died.worker, died['signal'], died['restart_in_ms']], [2, 'SIGKILL', 100]);
  const again = await p.line((l) => l.msg === 'worker 2 serving' && l.pid !== two.pid);
  assert.equal(again['forecast_loop'], false, 'the forecast loop stays with worker 1');
  for (let i = 0; i < 4; i++) {
    const a = new Agent();
    const res = await request(`${p.url}/_meter/health`, { dispatcher: a });
    assert.equal(res.statusCode, 200);
    await res.body.text();
    await a.close();
  }
  assert.equal((await p.stop()).code, 0);
});
