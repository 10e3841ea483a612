/** The installed command: refuses bad config with file, key path and reason; starts on defaults; shuts down cleanly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { within } from '../helpers/wait.ts';

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

test('request log lines are buffered but reach stdout within a fraction of a second, and SIGTERM writes out the rest', async (t) => {
  const upstream = await startMockAnthropic(t);
  upstream.setScenario(() => ({ kind: 'message', usage: { input_tokens: 3, output_tokens: 2 } }));
  const { child } = run(['start', '--config', 'proxy.config.yaml'], { PORT: '0', UPSTREAM_URL: upstream.url });
  const seen: Array<{ msg: string; id?: string; listen?: string }> = [];
  const lines = createInterface({ input: child.stdout });
  const closed = once(lines, 'close');
  let onLine: (() => void) | null = null;
  lines.on('line', (l) => {
    seen.push(JSON.parse(l) as { msg: string });
    onLine?.();
  });
  const until = (pred: () => boolean, ms: number) =>
    within(
      `a line after ${JSON.stringify(seen.map((l) => l.msg))}`,
      new Promise<void>((ok) => {
        onLine = () => pred() && ok();
        onLine();
      }),
      ms,
    );
  await until(() => seen.length > 0, 10_000);
  const base = seen[0]!.listen!;
  const ask = () =>
    fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-test', 'content-type': 'application/json' },
      body: '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}',
    }).then((r) => r.text());
  // One request: its line is far below the 64 K buffer, so only the flush timer can write it.
  await ask();
  await until(() => seen.some((l) => l.msg === 'request'), 2_000);
  // A burst then SIGTERM at once: every request line is still written before exit.
  await Promise.all(Array.from({ length: 20 }, ask));
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  await closed;
  assert.equal(code, 0);
  assert.equal(seen.filter((l) => l.msg === 'request').length, 21);
});

test('--version prints the package version', async () => {
  const child = spawn(process.execPath, [BIN, '--version'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(child, 'exit');
  const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
  assert.equal(out.trim(), pkg.version);
});

/**
 * The command runs the bundle in dist/ (bin/claude-meter.js picks it when present); `npm test`
 * builds it before the tests, so the tests above ran the shipped artifact. Guard: the bundle
 * is newer than every source file, i.e. built from the code under test.
 */
test('bin runs dist/cli.mjs, built from the current src/', () => {
  const bundle = resolve('dist/cli.mjs');
  assert.ok(existsSync(bundle), 'dist/cli.mjs missing: npm test runs `npm run build` first');
  const built = statSync(bundle).mtimeMs;
  const stale = readdirSync('src', { recursive: true, encoding: 'utf8' })
    .map((f) => join('src', f))
    .filter((f) => statSync(f).isFile() && statSync(f).mtimeMs > built);
  assert.deepEqual(stale, [], 'source files changed after the last build');
  assert.match(readFileSync(BIN, 'utf8'), /dist\/cli\.mjs/);
  // The bundle carries the pricing table it reads next to itself.
  assert.ok(existsSync(resolve('dist/prices.yaml')));
});

test('a bundle older than a source file is not run: the command says so and runs the sources', async (t) => {
  // A copy of the installed layout (bin, dist, src; node_modules linked), so the real tree is untouched.
  const dir = mkdtempSync(join(tmpdir(), 'claude-meter-bin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['bin', 'dist', 'src']) cpSync(resolve(d), join(dir, d), { recursive: true, preserveTimestamps: true });
  symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
  cpSync(resolve('package.json'), join(dir, 'package.json'));
  const version = async () => {
    const child = spawn(process.execPath, [join(dir, 'bin/claude-meter.js'), '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    return { code, out: out.trim(), err };
  };
  const fresh = await version();
  assert.deepEqual([fresh.code, fresh.err], [0, ''], 'a current bundle runs silently');
  const later = new Date(statSync(join(dir, 'dist/cli.mjs')).mtimeMs + 60_000);
  utimesSync(join(dir, 'src/version.ts'), later, later);
  const stale = await version();
  assert.equal(stale.code, 0);
  assert.equal(stale.out, fresh.out);
  assert.match(stale.err, /src\/version\.ts is newer than dist\/cli\.mjs: running the sources/);
});
