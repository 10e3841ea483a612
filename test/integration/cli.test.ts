/** The installed command: refuses bad config with file, key path and reason; starts on defaults; shuts down cleanly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

const BIN = resolve('bin/claude-meter.js');

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, CLAUDE_METER_CONFIG: '', REDIS_URL: '', PORT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, stderr: () => stderr };
}

for (const [fixture, keyPath] of [
  ['malformed.yaml', '(yaml)'],
  ['unknown-nested-key.yaml', 'store.redis.uri'],
  ['unknown-top-level-key.yaml', 'uptream'],
  ['port-out-of-range.yaml', 'listen.port'],
] as const) {
  test(`start refuses ${fixture}, naming the file, ${keyPath} and the reason`, async () => {
    const file = resolve('test/fixtures/config', fixture);
    const { child, stderr } = run(['start', '--config', file]);
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 2);
    assert.ok(stderr().includes(`refusing to start: ${file}: config error at ${keyPath}: `), stderr());
  });
}

test('start refuses a missing --config file', async () => {
  const { child, stderr } = run(['start', '--config', '/nonexistent/claude-meter.yaml']);
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 2);
  assert.match(stderr(), /\/nonexistent\/claude-meter\.yaml/);
});

test('start on the shipped proxy.config.yaml without Redis: in-memory store, says so first, serves health, exits 0 on SIGTERM', async () => {
  const { child } = run(['start', '--config', 'proxy.config.yaml'], { PORT: '0' });
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  const log = JSON.parse(first) as { msg: string; store: string; listen: string };
  assert.equal(log.store, 'memory');
  assert.match(log.msg, /in-memory/);
  const health = (await (await fetch(`${log.listen}/_meter/health`)).json()) as { status: string; store: { kind: string } };
  assert.equal(health.status, 'ok');
  assert.equal(health.store.kind, 'memory');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0);
});

test('--version prints the package version', async () => {
  const child = spawn(process.execPath, [BIN, '--version'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(child, 'exit');
  const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
  assert.equal(out.trim(), pkg.version);
});
