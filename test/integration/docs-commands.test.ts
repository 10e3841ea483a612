/**
 * The shell commands of README.md, CONTRIBUTING.md and docs/*.md run as documented, so a
 * documented command that breaks (a renamed flag, a moved file) fails the suite. Each block
 * runs in a temporary copy of the repository with `claude-meter` on the PATH and a time
 * limit; markers (test/helpers/doc-blocks.ts) say which blocks start a server, need Redis,
 * must fail, or cannot run here and why. The blocks not run are listed in the diagnostics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocBlocks, type DocBlock } from '../helpers/doc-blocks.ts';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCUMENTED_REDIS = 'redis://127.0.0.1:6379';
const BLOCK_TIMEOUT_MS = 40_000;
const SERVE_READY_MS = 30_000;
/** Variables the documented commands set themselves; the test's own environment must not leak in. */
const UNSET = ['PORT', 'HOST', 'REDIS_URL', 'UPSTREAM_URL', 'CLAUDE_METER_CONFIG', 'CLAUDE_METER_LOG_FORMAT', 'NODE_TEST_CONTEXT'];

const DOCS = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/** Tracked files plus new ones not ignored, as a fresh clone would have them. */
function repoFiles(): string[] {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ls-files: ${r.stderr}`);
  return r.stdout.split('\0').filter((f) => f !== '' && f !== 'node_modules' && existsSync(join(ROOT, f)));
}

/** A copy of the repository with node_modules linked and dist/ built, and a PATH with `claude-meter`. */
function workspace(): { dir: string; path: string; cleanup: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'cm-docs-'));
  const dir = join(base, 'claude-meter');
  for (const f of repoFiles()) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(ROOT, f), join(dir, f));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, encoding: 'utf8' });
  assert.equal(build.status, 0, `build: ${build.stderr}`);
  const bin = join(base, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'claude-meter'), `#!/bin/sh\nexec "${process.execPath}" "${join(dir, 'bin', 'claude-meter.js')}" "$@"\n`);
  chmodSync(join(bin, 'claude-meter'), 0o755);
  return { dir, path: `${bin}:${process.env['PATH'] ?? ''}`, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

interface Ran {
  code: number | null;
  output: string;
}

function blockEnv(path: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: path, ...extra };
  for (const k of UNSET) if (!(k in extra)) delete env[k];
  return env;
}

/** Runs a script with bash -e in its own process group; on the deadline the group is killed. */
function runScript(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      output += `\n[killed after ${BLOCK_TIMEOUT_MS} ms]`;
      process.kill(-child.pid!, 'SIGKILL');
    }, BLOCK_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Starts a serving block, waits for /_meter/health to answer 200, stops it; returns the health body. */
async function serve(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  port: number,
): Promise<{ health: Record<string, unknown> | null; output: string }> {
  const child = spawn('bash', ['-e', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const closed = new Promise<void>((resolve) => child.on('close', () => ((exited = true), resolve())));
  let health: Record<string, unknown> | null = null;
  const deadline = Date.now() + SERVE_READY_MS;
  while (!exited && health === null && Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/_meter/health`);
      if (res.status === 200) health = (await res.json()) as Record<string, unknown>;
    } catch {
      // not listening yet
    }
    if (health === null) await Promise.race([closed, delay(100)]);
  }
  if (!exited) {
    process.kill(-child.pid!, 'SIGTERM');
    const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 10_000);
    await closed;
    clearTimeout(killer);
  }
  return { health, output };
}

function label(b: DocBlock): string {
  const first = b.script.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? b.body.split('\n')[0] ?? '';
  return `${b.file}:${b.line} ${first
    .replace(/\s+#.*$/, '')
    .trim()
    .slice(0, 70)}`;
}

// About 30 commands, each a fresh process (several start a server): more than the suite's 2-minute default on a busy machine.
test('the shell commands of the README, CONTRIBUTING.md and docs/ run as documented', { timeout: 300_000 }, async (t) => {
  const parsed = DOCS.map((f) => parseDocBlocks(f, readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(
    parsed.flatMap((p) => p.errors),
    [],
    'markers are well formed',
  );
  const blocks = parsed.flatMap((p) => p.blocks);
  const shell = blocks.filter((b) => b.script !== '' || b.notRun !== null);
  const notRun = shell.filter((b) => b.notRun !== null);
  for (const b of notRun) t.diagnostic(`not run: ${label(b)} (${b.notRun})`);

  const ws = workspace();
  let redis: RedisServer | null = null;
  t.after(async () => {
    await redis?.close();
    ws.cleanup();
  });
  const tally = { ran: 0, served: 0, redis: 0 };
  const written = new Map<string, string>();
  /** A command documented twice (same script, options and the files it names) runs once. */
  const seen = new Map<string, string>();
  for (const b of blocks) {
    if (b.writeTo !== null) {
      written.set(b.writeTo, b.body);
      writeFileSync(join(ws.dir, b.writeTo), `${b.body}\n`);
      continue;
    }
    if (b.script === '' || b.notRun !== null) continue;
    const key = JSON.stringify([b.script, b.run, [...written].filter(([name]) => b.script.includes(name))]);
    const first = seen.get(key);
    if (first !== undefined) {
      t.diagnostic(`${label(b)}: the same as ${first}, run once`);
      continue;
    }
    seen.set(key, `${b.file}:${b.line}`);
    await t.test(label(b), async () => {
      const extra: Record<string, string> = {};
      let script = b.script;
      if (b.run.redis) {
        redis ??= await startRedis();
        extra['REDIS_URL'] = redis.url;
        script = script.replaceAll(DOCUMENTED_REDIS, redis.url);
        tally.redis++;
      }
      if (b.run.serve) {
        const port = await freePort();
        extra['PORT'] = String(port);
        const { health, output } = await serve(script, ws.dir, blockEnv(ws.path, extra), port);
        assert.ok(health !== null, `no 200 from /_meter/health on port ${port}:\n${output}`);
        const store = (health['store'] as { kind?: string } | undefined)?.kind;
        assert.equal(store, b.run.redis ? 'redis' : 'memory', `the store in use:\n${output}`);
        tally.served++;
      } else {
        const ran = await runScript(script, ws.dir, blockEnv(ws.path, extra));
        assert.equal(ran.code, b.run.exit, `exit status ${ran.code}, documented ${b.run.exit}:\n${ran.output}`);
      }
      tally.ran++;
    });
  }
  t.diagnostic(`${tally.ran} blocks ran (${tally.served} servers, ${tally.redis} with Redis), ${notRun.length} not run`);
  // The test cannot pass by running nothing: the README alone has servers and Redis commands.
  assert.ok(tally.ran >= 15 && tally.served >= 3 && tally.redis >= 3, `too few blocks ran: ${JSON.stringify(tally)}`);
});
