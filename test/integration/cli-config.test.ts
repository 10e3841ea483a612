/**
 * Which config file the installed command uses (--config, then CLAUDE_METER_CONFIG, then
 * ./proxy.config.yaml), that the first log line names it and its budgets apply, and
 * `check-config`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { parse } from 'yaml';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';

const BIN = resolve('bin/claude-meter.js');

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cm-cli-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `env`: over a neutral environment; an undefined value removes the variable. */
function spawnBin(args: string[], env: Record<string, string | undefined>, cwd = process.cwd()) {
  const full: Record<string, string | undefined> = {
    ...process.env,
    CLAUDE_METER_CONFIG: '',
    REDIS_URL: '',
    PORT: '0',
    CLAUDE_METER_LOG_FORMAT: '',
    ...env,
  };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  return spawn(process.execPath, [BIN, ...args], { cwd, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts the proxy and returns its first log line; SIGTERM at the end of the test. */
async function startBin(t: TestContext, args: string[], env: Record<string, string>, cwd?: string) {
  const child = spawnBin(['start', ...args], env, cwd);
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [null])]);
  assert.ok(first[0], `no log line; stderr: ${stderr}`);
  return JSON.parse(first[0] as string) as { msg: string; listen: string; config_file: string | null; config_from: string };
}

async function runBin(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  const child = spawnBin(args, env, cwd);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out, err };
}

const BUDGET_YAML = 'budgets:\n  - name: tiny\n    limit_usd: 0.000001\n';

test('CLAUDE_METER_CONFIG is used without --config: the first log line names it and its budget refuses', async (t) => {
  const up = await startMockAnthropic(t);
  const file = join(tempDir(t), 'budgets.yaml');
  writeFileSync(file, BUDGET_YAML);
  const first = await startBin(t, [], { CLAUDE_METER_CONFIG: file, UPSTREAM_URL: up.url });
  assert.equal(first.config_file, file);
  assert.equal(first.config_from, 'env');
  assert.ok(first.msg.includes(`config: ${file} (from CLAUDE_METER_CONFIG)`), first.msg);
  const budgets = (await (await fetch(`${first.listen}/_meter/budgets`)).json()) as { budgets: { budget: string }[] };
  assert.deepEqual(
    budgets.budgets.map((b) => b.budget),
    ['tiny'],
  );
  const res = await fetch(`${first.listen}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'sk-x', 'content-type': 'application/json' },
    body: '{"model":"claude-haiku-4-5","max_tokens":5,"messages":[]}',
  });
  assert.equal(res.status, 429);
  assert.match(await res.text(), /budget 'tiny'/);
  assert.equal(up.received.length, 0);
});

test('--config wins over CLAUDE_METER_CONFIG', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'flag.yaml'), 'log:\n  level: info\n');
  const first = await startBin(t, ['--config', join(dir, 'flag.yaml')], { CLAUDE_METER_CONFIG: join(dir, 'missing.yaml') });
  assert.equal(first.config_file, join(dir, 'flag.yaml'));
  assert.equal(first.config_from, 'flag');
});

test('without either, ./proxy.config.yaml is used when present, else the built-in defaults', async (t) => {
  const dir = tempDir(t);
  const none = await startBin(t, [], {}, dir);
  assert.equal(none.config_file, null);
  assert.match(none.msg, /config: built-in defaults/);
  writeFileSync(join(dir, 'proxy.config.yaml'), BUDGET_YAML);
  const local = await startBin(t, [], {}, dir);
  assert.equal(local.config_file, join(dir, 'proxy.config.yaml'));
  assert.equal(local.config_from, 'cwd');
});

test('npm start passes no --config, so CLAUDE_METER_CONFIG takes effect under it', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts['start'] ?? '', /bin\/claude-meter\.js start$/);
});

test('check-config prints the effective config with secrets hidden, and exits 0', async (t) => {
  const file = join(tempDir(t), 'secret.yaml');
  writeFileSync(
    file,
    [
      'upstream:\n  api_key: ${CM_KEY}',
      'store:\n  redis:\n    url: redis://:hunter2@redis.internal:6379/0',
      'alerts:\n  webhook_url: https://hooks.slack.com/services/T0/B0/xyzzy',
      'admin:\n  token: admin-secret',
      BUDGET_YAML,
    ].join('\n'),
  );
  const r = await runBin(['check-config', file], { CM_KEY: 'sk-ant-secret', PORT: '9191', REDIS_URL: undefined });
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.startsWith(`# valid: ${file} (from --config)\n`), r.out);
  for (const secret of ['sk-ant-secret', 'hunter2', 'xyzzy', 'admin-secret']) assert.ok(!r.out.includes(secret), secret);
  const c = parse(r.out) as Record<string, Record<string, unknown>>;
  assert.equal(c['upstream']?.['api_key'], '***');
  assert.equal((c['store']?.['redis'] as { url: string } | undefined)?.url, 'redis://:***@redis.internal:6379/0');
  assert.equal(c['alerts']?.['webhook_url'], 'https://hooks.slack.com/***');
  assert.equal(c['admin']?.['token'], '***');
  assert.equal(c['listen']?.['port'], 9191, 'environment overrides included');
  assert.equal((c['budgets'] as unknown as Array<{ name: string; window: string }>)[0]?.window, 'day', 'defaults filled in');
  assert.ok(!('source' in c));
});

test('check-config exits 1 naming the file, key path and reason', async (t) => {
  const file = join(tempDir(t), 'bad.yaml');
  writeFileSync(file, 'budgets:\n  - name: a\n    limit_usd: 1\n    window: fortnight\n');
  const r = await runBin(['check-config', file]);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(
    r.err,
    new RegExp(
      `^claude-meter check-config: ${file.replace(/[.]/g, '\\.')}: config error at budgets\\[0\\]\\.window: invalid window 'fortnight'`,
    ),
  );
  const typo = await runBin(['check-config', resolve('test/fixtures/config/unknown-nested-key.yaml')]);
  assert.equal(typo.code, 1);
  assert.match(typo.err, /store\.redis\.uri: unknown key 'uri' \(did you mean 'url'\?\)/);
  const missing = await runBin(['check-config'], { CLAUDE_METER_CONFIG: '/nonexistent/meter.yaml' });
  assert.equal(missing.code, 1);
  assert.match(missing.err, /\/nonexistent\/meter\.yaml: config error at \(file\): file not found/);
});

test('a price table start refuses (pricing file or inline): check-config and start both refuse with the same one line, no stack trace', async (t) => {
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'prices.yaml'),
    'models:\n  claude-x:\n    geo_us_applies: false\n    prices:\n      - { input: -1, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1 }\n',
  );
  const viaFile = join(dir, 'via-file.yaml');
  writeFileSync(viaFile, 'pricing:\n  file: prices.yaml\n');
  const inline = join(dir, 'inline.yaml');
  writeFileSync(
    inline,
    'pricing:\n  models:\n    claude-x:\n      geo_us_applies: false\n      prices:\n        - { input: 1, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1, extra: 2 }\n',
  );
  for (const [file, line] of [
    [viaFile, `${join(dir, 'prices.yaml')}: pricing error at models.claude-x.prices[0].input: must not be negative, got -1`],
    [inline, `${inline}: pricing error at pricing.models.claude-x.prices[0].extra: unknown key`],
  ] as const) {
    const checked = await runBin(['check-config', file]);
    assert.equal(checked.code, 1, checked.out);
    assert.equal(checked.out, '');
    assert.ok(checked.err.startsWith(`claude-meter check-config: ${line}`), checked.err);
    const started = await runBin(['start', '--config', file]);
    assert.equal(started.code, 2, 'refused like any other config error');
    assert.ok(started.err.startsWith(`claude-meter: refusing to start: ${line}`), started.err);
    // The same message on both, and one line each: no stack trace.
    assert.equal(checked.err.slice('claude-meter check-config: '.length), started.err.slice('claude-meter: refusing to start: '.length));
    assert.equal(started.err.trimEnd().split('\n').length, 1, started.err);
  }
});

test('--help lists report and check-config; a stray argument is refused', async () => {
  const help = await runBin(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /claude-meter check-config \[FILE\]/);
  assert.match(help.out, /claude-meter report \[--window day\|week\|month\] \[--by model\|key\|key_id\|tag\|upstream\]/);
  assert.match(help.out, /CLAUDE_METER_CONFIG, else \.\/proxy\.config\.yaml/);
  const stray = await runBin(['report', 'extra']);
  assert.equal(stray.code, 2);
  assert.match(stray.err, /unexpected argument 'extra'/);
});
