/**
 * The request bodies the proxy holds in memory, across every request in flight, stay within
 * limits.max_buffered_request_bytes: past it a request is answered 503 unread, in the API's
 * error shape with retry-after, and counted; the room comes back as responses finish.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';

const MiB = 1024 * 1024;

/** A request that declares `length` bytes and sends a few: the proxy decides on the declared length. */
function declare(url: string, length: number): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/messages`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': String(length), 'x-api-key': 'sk-x' },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    req.write('{"model":"claude-haiku-4-5",');
  });
}

const scrape = async (url: string, name: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
};

test('past max_buffered_request_bytes a request gets a 503 overloaded_error with retry-after, unread; the room comes back', async (t) => {
  const up = await startMockAnthropic(t);
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  up.setScenario(() => ({
    kind: 'gated',
    headers: { 'content-type': 'application/json' },
    first: '{"id":"msg_1",',
    rest: '"type":"message"}',
    gate,
  }));
  const { url } = await startProxy(t, {
    upstream: up.url,
    config: { limits: { max_request_body_bytes: MiB, max_buffered_request_bytes: 2 * MiB } },
  });
  t.after(() => open());
  const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(MiB - 200) }] });
  assert.ok(Buffer.byteLength(body) <= MiB);
  // Two bodies held while their answers are still streaming.
  const held = await Promise.all([0, 1].map(() => fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-x' }, body })));
  assert.deepEqual(
    held.map((r) => r.status),
    [200, 200],
  );
  assert.equal(await scrape(url, 'claude_meter_request_body_buffered_bytes'), 2 * Buffer.byteLength(body));

  const refused = await declare(url, MiB);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['retry-after'], '1');
  assert.equal(refused.headers['x-should-retry'], 'true');
  assert.equal(refused.headers.connection, 'close');
  const err = JSON.parse(refused.body) as { type: string; error: { type: string; message: string } };
  assert.equal(err.type, 'error');
  assert.equal(err.error.type, 'overloaded_error');
  assert.match(err.error.message, /max_buffered_request_bytes/);
  assert.equal(up.received.length, 2, 'the refused request never reached the upstream');
  assert.equal(await scrape(url, 'claude_meter_request_bodies_refused_total'), 1);

  open();
  await Promise.all(held.map((r) => r.text()));
  const after = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-x' }, body });
  assert.equal(after.status, 200, 'room again once the held responses ended');
  await after.text();
});
