/**
 * scripts/test-prereqs.mjs, the first step of `npm test`: with a program missing (and no
 * installing allowed) it stops at once with one line naming it; with all present it passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../scripts/test-prereqs.mjs', import.meta.url));
const PROGRAMS = ['redis-server', 'redis-cli', 'prometheus', 'promtool', 'chromium'];

function which(name: string): string {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
}

/** Runs the script with PATH holding only `sh` and the given programs. */
function runWith(programs: string[], t: { after: (fn: () => void) => void }) {
  const bin = mkdtempSync(join(tmpdir(), 'prereqs-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  symlinkSync(which('sh'), join(bin, 'sh'));
  for (const p of programs) symlinkSync(which(p) || '/bin/true', join(bin, p));
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { PATH: bin, CLAUDE_METER_TEST_NO_INSTALL: '1' };
  const r = spawnSync(process.execPath, [SCRIPT], { env, encoding: 'utf8', timeout: 10_000 });
  return { ...r, ms: Date.now() - started };
}

test('a missing program stops npm test at once, naming it and what to install', (t) => {
  const r = runWith(['redis-server', 'redis-cli', 'chromium'], t);
  assert.equal(r.status, 1);
  assert.ok(r.ms < 5000, `took ${r.ms} ms`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /needs prometheus, promtool on PATH/);
  assert.match(lines[0] ?? '', /apt-get install prometheus\b/);
});

test('with every program present it passes silently', (t) => {
  const r = runWith(PROGRAMS, t);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
});
