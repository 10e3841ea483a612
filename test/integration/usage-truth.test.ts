/**
 * Never a silent $0, through a real proxy: usage that cannot be read settles the budget at the
 * reservation; a stream cut short settles at its estimate; a decompression bomb is recorded
 * with its reason while the client gets every byte, in bounded CPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { messageStream, sseFrame, startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { recordingLogger, startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { MemoryBudgetStore } from '../../src/budget/store/memory-budget-store.ts';

const HAIKU = 'claude-haiku-4-5'; // $1 in / $5 out per MTok
const BODY = JSON.stringify({ model: HAIKU, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });

/** A recording logger that also hands over each request line as it is logged (the end of an exchange). */
function requestLog() {
  const log = recordingLogger();
  const waiting: ((fields: Record<string, unknown>) => void)[] = [];
  const info = log.info;
  log.info = (obj, msg) => {
    info(obj, msg);
    if (msg === 'request') waiting.shift()?.(obj as Record<string, unknown>);
  };
  return { log, next: () => new Promise<Record<string, unknown>>((r) => waiting.push(r)) };
}

/** POSTs BODY with node:http (no decompression, unlike fetch): the raw bytes the client received. */
function post(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-truth' },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end(BODY);
  });
}

async function spent(url: string): Promise<{ usd: number; tokens: number; reservedUsd: number }> {
  const { budgets } = (await (await fetch(`${url}/_meter/budgets`)).json()) as {
    budgets: { spent_usd: number; spent_tokens: number; reserved_usd: number }[];
  };
  const b = budgets[0];
  assert.ok(b);
  return { usd: b.spent_usd, tokens: b.spent_tokens, reservedUsd: b.reserved_usd };
}

test('invalid usage is recorded and counted as invalid_usage, and the budget settles at the reservation, not $0', async (t) => {
  const up = await startMockAnthropic(t);
  const body = `{"id":"msg_bad","type":"message","model":"${HAIKU}","content":[],"usage":{"input_tokens":-1000,"output_tokens":"100000"}}`;
  up.setScenario(() => ({ kind: 'raw', status: 200, headers: { 'content-type': 'application/json' }, chunks: [body] }));
  const { log, next } = requestLog();
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    logger: log,
    config: { budgets: [budget({ name: 'cap', limit_usd: 10 })] },
  });
  const line = next();
  const res = await post(url);
  assert.equal(res.body.toString(), body, 'the client gets the body as sent');
  const fields = await line;
  await app.flush();
  assert.equal(fields['usage_missing'], 'invalid_usage');
  assert.equal(fields['usage'], null);
  const reserved = fields['reserved_usd'];
  assert.ok(typeof reserved === 'number' && reserved > 0, `reserved ${String(reserved)}`);
  const s = await spent(url);
  assert.equal(s.usd, reserved, 'settled at the reservation');
  assert.ok(s.tokens >= 100, 'and its tokens (max_tokens 100 at least)');
  assert.equal(s.reservedUsd, 0, 'the reservation itself is released');
  const [record] = await app.store.recent(1);
  assert.equal(record?.usageMissing, 'invalid_usage');
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /claude_meter_usage_missing_total\{reason="invalid_usage"\} 1\n/);
});

test('admitted without a reservation (budget store down, on_store_error: allow), unreadable usage still settles what it would have reserved', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({
    kind: 'raw',
    status: 200,
    headers: { 'content-type': 'application/json' },
    chunks: ['{"usage":{"input_tokens":1.5}}'],
  }));
  class DownAtAdmission extends MemoryBudgetStore {
    override async admit(): Promise<never> {
      throw new Error('budget store unreachable');
    }
  }
  const { log, next } = requestLog();
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    logger: log,
    budgetStore: new DownAtAdmission(),
    config: { budgets: [budget({ name: 'cap', limit_usd: 10, on_store_error: 'allow' })] },
  });
  const line = next();
  await post(url);
  assert.equal((await line)['usage_missing'], 'invalid_usage');
  await app.flush();
  const s = await spent(url);
  assert.ok(s.usd > 0 && s.tokens >= 100, `spent $${s.usd}, ${s.tokens} tokens`);
});

test('a client that leaves mid-stream: recorded with the usage seen plus its estimated output, and the budget settles at that', async (t) => {
  const up = await startMockAnthropic(t);
  const whole = messageStream({ usage: { input_tokens: 2000, output_tokens: 500 }, model: HAIKU, text: 'word '.repeat(300) });
  const cut = whole.slice(0, whole.indexOf('event: content_block_stop'));
  // The upstream sends the stream up to its last content delta, then holds it open.
  up.setScenario(() => ({
    kind: 'gated',
    headers: { 'content-type': 'text/event-stream' },
    first: cut,
    rest: '',
    gate: new Promise<void>(() => {}),
  }));
  const { log, next } = requestLog();
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    logger: log,
    config: { budgets: [budget({ name: 'cap', limit_usd: 10 })] },
  });
  const line = next();
  await leaveAfter(url, Buffer.byteLength(cut));
  const fields = await line;
  await app.flush();
  assert.equal(fields['partial'], true);
  assert.equal(fields['estimated'], true);
  const usage = fields['usage'] as { input: number; output: number };
  assert.equal(usage.input, 2000);
  // 300 deltas of "word " (5 characters) after message_start's count of 1: 1 + 1500 / 3.
  assert.equal(usage.output, 501);
  const cost = fields['cost_usd'];
  assert.ok(typeof cost === 'number' && cost > 0);
  const s = await spent(url);
  assert.equal(s.usd, cost, 'settled at the estimate the record carries');
  assert.equal(s.tokens, 2501);
});

/** Streams a request's response until `bytes` have arrived, then closes the connection, as a client that gives up. */
function leaveAfter(url: string, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-truth' },
    });
    req.on('error', () => {});
    req.on('response', (res) => {
      let got = 0;
      res.on('error', () => {});
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got < bytes) return;
        req.destroy();
        resolve();
      });
      res.on('end', () => reject(new Error('the stream ended before the client left')));
    });
    req.end(BODY);
  });
}

test('a gzip body inflating to 1 GiB: the client gets every compressed byte, the record says decompression_limit, CPU stays bounded', async (t) => {
  const up = await startMockAnthropic(t);
  // Gzip members concatenated: a MiB-long SSE comment line compresses to about a KiB, so ~1000
  // of them are 1 MB on the wire and 1 GiB inflated, for the cost of compressing one MiB once.
  const comment = gzipSync(Buffer.from(`:${' '.repeat((1 << 20) - 2)}\n`), { level: 9 });
  const head = gzipSync(
    Buffer.from(
      sseFrame('message_start', {
        type: 'message_start',
        message: { id: 'm', model: HAIKU, usage: { input_tokens: 9, output_tokens: 1 } },
      }),
    ),
  );
  const tail = gzipSync(
    Buffer.from(
      sseFrame('message_delta', { type: 'message_delta', delta: {}, usage: { output_tokens: 5 } }) +
        sseFrame('message_stop', { type: 'message_stop' }),
    ),
  );
  const members = 1024; // a GiB
  const bomb = Buffer.concat([head, ...Array.from({ length: members }, () => comment), tail]);
  assert.ok(bomb.length >= 1_000_000 && members * (1 << 20) >= 1 << 30, `${bomb.length} bytes, ${members} MiB inflated`);
  up.setScenario(() => ({
    kind: 'raw',
    status: 200,
    headers: { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' },
    chunks: Array.from({ length: Math.ceil(bomb.length / 65536) }, (_, i) => bomb.subarray(i * 65536, (i + 1) * 65536)),
  }));
  const { log, next } = requestLog();
  const { url } = await startProxy(t, { upstream: up.url, logger: log });
  const line = next();
  const cpu = process.cpuUsage();
  const res = await post(url);
  const fields = await line;
  const used = process.cpuUsage(cpu);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.ok(res.body.equals(bomb), 'every compressed byte reached the client, untouched');
  assert.equal(fields['usage_missing'], 'decompression_limit');
  const seconds = (used.user + used.system) / 1e6;
  // About 0.1 s here; inflating the whole GiB costs 2.5 s even though comments are skipped unread.
  assert.ok(seconds < 1, `CPU ${seconds.toFixed(2)} s`);
});
