/**
 * SIGKILL of the proxy while Redis is down: the journal lives in memory, so every record it
 * held is lost, and only those (the bound docs/operations.md#guarantees states: during an
 * outage, the whole journal, at most store.journal_max_records). Records written before the
 * outage survive, and a proxy restarted on the same Redis records again. Should the journal
 * ever be persisted, this test is the one to change, with that guarantee.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startProxyProcess } from '../helpers/proxy-process.ts';
import { SONNET } from '../helpers/ledger.ts';
import { waitFor } from '../helpers/wait.ts';
import { decodeRecord } from '../../src/store/record-codec.ts';

const maxTokens = (body: Buffer): number => (JSON.parse(body.toString()) as { max_tokens: number }).max_tokens;

async function ask(base: string, output: number): Promise<void> {
  const res = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'sk-ant-fault', 'content-type': 'application/json' },
    body: JSON.stringify({ model: SONNET, max_tokens: output, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

/** A value of the proxy's /metrics, polled until `ok` holds. */
async function metricReaches(base: string, series: string, ok: (v: number) => boolean): Promise<void> {
  await waitFor(`${series} in /metrics`, async () => {
    const m = new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(await (await fetch(`${base}/metrics`)).text());
    return m !== null && ok(Number(m[1]));
  });
}

test('SIGKILL during a Redis outage loses exactly the journal; what was written before survives; a restart records again', async (t) => {
  const redis = await startRedis({ t, persist: true });
  const up = await startMockAnthropic(t);
  up.setScenario((req) => ({ kind: 'message', usage: { input_tokens: 100, output_tokens: maxTokens(req.body) } }));
  const a = await startProxyProcess(t, { UPSTREAM_URL: up.url, REDIS_URL: redis.url });

  const before = [1, 2, 3, 4, 5].map((i) => 100 + i);
  for (const o of before) await ask(a.url, o);
  await metricReaches(a.url, 'claude_meter_store_records_total{event="written"}', (v) => v === before.length);

  await redis.kill();
  const during = Array.from({ length: 30 }, (_, i) => 200 + i);
  for (const o of during) await ask(a.url, o); // served while Redis is down
  await metricReaches(a.url, 'claude_meter_store_journal_records', (v) => v === during.length);
  a.child.kill('SIGKILL');
  assert.equal((await a.exited).signal, 'SIGKILL');

  await redis.restart();
  const b = await startProxyProcess(t, { UPSTREAM_URL: up.url, REDIS_URL: redis.url });
  const after = [301, 302, 303];
  for (const o of after) await ask(b.url, o);
  assert.equal((await b.signal('SIGTERM')).code, 0);

  const client = new Redis(redis.url);
  t.after(() => client.quit());
  const stored = (await client.xrange('{cm}:events', '-', '+')).map(([, f]) => decodeRecord(f)?.usage?.output);
  assert.deepEqual(stored, [...before, ...after], 'the journal of the killed process is gone, and only it');
});
