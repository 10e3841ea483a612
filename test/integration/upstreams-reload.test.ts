/**
 * A reload swaps the set of routed upstreams: a new route works at once, a removed one stops
 * (its path is the default's again), an unchanged upstream keeps its pool and its keep-alive
 * socket, and a changed one's old pool is closed only after the request in flight on it has
 * finished. A file that breaks the upstream rules is refused with file, key path and reason,
 * and the running routes keep serving. Real sockets; the upstreams count theirs.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageJson, startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { recordingLogger, startProxy, testConfig } from '../helpers/start-proxy.ts';
import { UPSTREAM_DEFAULTS } from '../../src/config/defaults.ts';
import type { RoutedUpstreamConfig } from '../../src/config/types.ts';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigWatcher } from '../../src/config/reload.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { hashKey } from '../../src/http/identify.ts';
import { within } from '../helpers/wait.ts';

const BODY = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [] });

/** An Anthropic-shaped upstream that counts its connections; a path containing `slow` answers only on `release()`. */
async function countingUpstream(t: TestContext) {
  const sockets: Socket[] = [];
  const paths: string[] = [];
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    for (const w of waiters) if (paths.length >= w.n) w.resolve();
    waiters = waiters.filter((w) => paths.length < w.n);
    req.resume();
    req.on('end', () => {
      const body = messageJson({ usage: { input_tokens: 3, output_tokens: 2 }, model: 'claude-haiku-4-5', text: 'ok' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      if (!req.url?.includes('slow')) return void res.end(body);
      res.write(body.slice(0, 10));
      void released.then(() => res.end(body.slice(10)));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => sockets.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    sockets,
    release,
    /** Resolves once `n` requests have arrived. */
    arrived: (n: number) => (paths.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    /** Resolves when the `i`th connection is closed (by the proxy closing its pool). */
    closed: (i: number) => {
      const s = sockets[i];
      assert.ok(s, `connection ${i} exists`);
      return s.destroyed ? Promise.resolve() : once(s, 'close').then(() => undefined);
    },
  };
}

const routed = (name: string, url: string, route: string, extra: Partial<RoutedUpstreamConfig> = {}): RoutedUpstreamConfig => ({
  ...UPSTREAM_DEFAULTS,
  name,
  url,
  api: 'anthropic',
  route,
  ...extra,
});

test('reload: new route works, removed one stops, unchanged keeps its socket, changed one closes after its request in flight', async (t) => {
  const def = await startMockAnthropic(t);
  const [keep, change, gone] = [await countingUpstream(t), await countingUpstream(t), await countingUpstream(t)];
  const listed = { client_key_ids: [hashKey('sk-listed')] };
  const before = [routed('keep', keep.url, '/keep'), routed('change', change.url, '/change'), routed('gone', gone.url, '/gone', listed)];
  const { app, url, config } = await startProxy(t, { upstream: def.url, config: { upstreams: before } });
  const send = (path: string, key = 'sk-listed') =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: BODY });
  const post = async (path: string) => {
    const res = await send(path);
    assert.equal(res.status, 200, path);
    return res.text();
  };
  for (const p of ['/keep/v1/messages', '/change/v1/messages', '/gone/v1/messages']) await post(p);
  assert.deepEqual([keep.sockets.length, change.sockets.length, gone.sockets.length], [1, 1, 1]);
  // Refused before its exchange began (an unlisted key): it must not keep `gone`'s pool open after the reload.
  assert.equal((await send('/gone/v1/messages', 'sk-unlisted').then((r) => (void r.arrayBuffer(), r))).status, 401);

  // A request in flight on `change` (headers and the first bytes sent, the rest held).
  const inFlight = post('/change/v1/messages/slow');
  await change.arrived(2);

  app.reload(
    testConfig({
      ...config,
      upstreams: [
        routed('keep', keep.url, '/keep'),
        routed('change', change.url, '/change', { headers_timeout_ms: 5_000 }),
        routed('new', gone.url, '/new'),
      ],
    }),
  );
  await within('the removed upstream’s pool closed', gone.closed(0), 10_000); // removed, and idle: closed at once
  assert.equal(change.sockets[0]?.destroyed, false, 'the changed pool waits for its request in flight');

  await post('/new/v1/messages');
  assert.deepEqual(gone.paths.slice(-1), ['/v1/messages'], 'the new route reaches its upstream');
  await post('/gone/v1/messages');
  assert.deepEqual(
    def.received.map((r) => r.url),
    ['/gone/v1/messages'],
    'a removed route is a path like any other: the default upstream',
  );
  assert.equal(gone.paths.length, 2);

  await post('/keep/v1/messages');
  assert.equal(keep.sockets.length, 1, 'the unchanged upstream reused its keep-alive socket');
  await post('/change/v1/messages');
  assert.equal(change.sockets.length, 2, 'the changed upstream has a new pool');

  change.release();
  const answer = await inFlight;
  assert.equal(JSON.parse(answer).type, 'message', 'the request in flight finished whole on the old pool');
  await within('the changed upstream’s old pool closed', change.closed(0), 10_000); // and then the old pool closed
  assert.equal(keep.sockets[0]?.destroyed, false);
});

test('a reloaded file that breaks the upstream rules is refused with file, key path and reason; the running routes keep serving', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-upstreams-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.config.yaml');
  const def = await startMockAnthropic(t);
  const hs = await startMockAnthropic(t);
  const yaml = (route: string) =>
    `listen:\n  port: 0\nupstreams:\n  - name: hs\n    url: ${hs.url}\n    api: anthropic\n    route: ${route}\n`;
  writeFileSync(file, yaml('/hs'));
  const env = { UPSTREAM_URL: def.url };
  const config = loadConfig({ file, env });
  const logger = recordingLogger();
  const app = createApp({ config, clock: systemClock, logger, defaultMetrics: false });
  const addr = await app.listen();
  t.after(() => app.close());
  const watcher = new ConfigWatcher({ file, env, logger, clock: systemClock, onReload: (next) => app.reload(next) });
  watcher.start(config);
  t.after(() => watcher.stop());
  const post = (path: string) => fetch(`http://127.0.0.1:${addr.port}${path}`, { method: 'POST', body: BODY }).then((r) => r.text());

  await post('/hs/v1/messages');
  for (const [route, reason] of [
    ['/v1/hs', "'/v1/hs' would shadow the default upstream's API paths (/v1/...)"],
    ['/hs/', "must not end with '/', got '/hs/' (did you mean '/hs'?)"],
  ] as const) {
    writeFileSync(file, yaml(route));
    assert.equal(await watcher.reloadNow(), false);
    const line = logger.lines.findLast((l) => l.level === 'error');
    assert.equal(line?.msg, `config reload refused: ${file}: config error at upstreams[0].route: ${reason}; keeping the previous config`);
  }
  writeFileSync(file, yaml('/relay'));
  assert.equal(await watcher.reloadNow(), true);
  await post('/relay/v1/messages');
  await post('/hs/v1/messages');
  assert.deepEqual(
    hs.received.map((r) => r.url),
    ['/v1/messages', '/v1/messages'],
  );
  assert.deepEqual(
    def.received.map((r) => r.url),
    ['/hs/v1/messages'],
  );
});
