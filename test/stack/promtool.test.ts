/**
 * The shipped Prometheus files through Debian's promtool: the rules parse, their unit tests
 * (prometheus/rules.test.yml) pass, and prometheus.yml is valid with the rules it loads.
 * A missing promtool fails the test (CI installs it, .ci/run); a wrong expectation must fail too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../helpers/prometheus.ts';
import { ROOT } from './dashboard-model.ts';

function promtool(args: string[], cwd = ROOT): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('promtool check rules prometheus/rules.yml', () => {
  requireBinary('promtool');
  const r = promtool(['check', 'rules', 'prometheus/rules.yml']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS: \d+ rules found/);
});

test('promtool test rules prometheus/rules.test.yml', () => {
  requireBinary('promtool');
  const r = promtool(['test', 'rules', 'prometheus/rules.test.yml']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

test('promtool check config prometheus/prometheus.yml (and the rules it loads)', () => {
  requireBinary('promtool');
  const r = promtool(['check', 'config', 'prometheus/prometheus.yml']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS: 1 rule files found/);
});

test('the rule tests can fail: a wrong expected annotation is reported', () => {
  requireBinary('promtool');
  const dir = mkdtempSync(join(tmpdir(), 'cm-promtool-'));
  try {
    copyFileSync(join(ROOT, 'prometheus/rules.yml'), join(dir, 'rules.yml'));
    const tests = readFileSync(join(ROOT, 'prometheus/rules.test.yml'), 'utf8');
    assert.ok(tests.includes('burns 30.0x'));
    writeFileSync(join(dir, 'rules.test.yml'), tests.replace('burns 30.0x', 'burns 31.0x'));
    const r = promtool(['test', 'rules', 'rules.test.yml'], dir);
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /FAILED/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
