/**
 * The repository must run from a fresh clone: no source, test, bench, doc or config file may
 * point at a path outside it (a sibling checkout's data, a machine's absolute path), and every
 * data file the docs name must be in `data/`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHECKED = /\.(ts|mjs|js|md|ya?ml|json)$/;
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', '.bench', 'tmp']);

// Built from pieces so that this file does not match itself.
const NEEDLES = ['../' + 'shared', '/' + 'work/', 'shared/' + 'data', 'shared/' + 'reference'];

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(relative(ROOT, p).split(sep).join('/'));
  }
  return out;
}

/** Tracked files plus new ones not ignored (so a file about to be added is checked too). */
function repoFiles(): string[] {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0 || r.error) return walk(ROOT);
  return r.stdout.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

test('no file points at a path outside the repository', () => {
  const files = repoFiles().filter((f) => CHECKED.test(f) && !f.endsWith('package-lock.json'));
  assert.ok(files.includes('README.md') && files.some((f) => f.startsWith('src/')), 'the file list reaches the sources');
  const hits: string[] = [];
  for (const f of files) {
    readFileSync(join(ROOT, f), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const n of NEEDLES) if (line.includes(n)) hits.push(`${f}:${i + 1}: ${n}`);
      });
  }
  assert.deepEqual(hits, []);
});

test('every data file the docs name is in data/, with a licence', () => {
  const pages = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  const docs = ['README.md', 'CONTRIBUTING.md', 'data/README.md', 'docs/simulate-example.txt', ...pages];
  const named = new Set<string>();
  for (const d of docs) {
    for (const m of readFileSync(join(ROOT, d), 'utf8').matchAll(/\bdata\/([\w.-]+\.csv)\b/g)) named.add(m[1]!);
  }
  const dataReadme = readFileSync(join(ROOT, 'data/README.md'), 'utf8');
  for (const f of readdirSync(join(ROOT, 'data'))) if (f.endsWith('.csv')) named.add(f);
  assert.ok(named.size > 0);
  for (const f of named) {
    assert.ok(existsSync(join(ROOT, 'data', f)), `data/${f} is named but missing`);
    assert.ok(dataReadme.includes(`\`${f}\``), `data/${f} is not described in data/README.md`);
  }
  for (const m of dataReadme.matchAll(/`licenses\/([\w.-]+)`/g)) {
    assert.ok(existsSync(join(ROOT, 'data/licenses', m[1]!)), `data/licenses/${m[1]} is cited but missing`);
  }
});
