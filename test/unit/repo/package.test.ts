/**
 * What `npm pack` publishes: the bundle and its assets, no sources; runtime dependencies are
 * exactly the packages the bundle imports; and an installed package runs the bundle alone.
 * (`npm test` builds dist/ before the tests run.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

function packedFiles(): string[] {
  // --ignore-scripts: prepack would rebuild dist/ under the other tests' feet.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  return (JSON.parse(out) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
}

test('the package holds the bundle, its assets and the config files, and no sources or tests', () => {
  const files = packedFiles();
  for (const f of [
    'bin/claude-meter.js',
    'dist/cli.mjs',
    'dist/prices.yaml',
    'dist/status/index.html',
    'proxy.config.yaml',
    'proxy.config.schema.json',
    'LICENSE',
  ]) {
    assert.ok(files.includes(f), `${f} is not in the package`);
  }
  const stray = files.filter((f) => /^(src|test|bench|scripts|data)\//.test(f));
  assert.deepEqual(stray, []);
});

test('runtime dependencies are exactly the packages the bundle imports', () => {
  const bundle = readFileSync(join(ROOT, 'dist', 'cli.mjs'), 'utf8');
  const builtins = new Set(builtinModules);
  const imported = new Set<string>();
  // esbuild writes each external import on a line of its own: `import … from "pkg";` or `import("pkg")`.
  for (const m of bundle.matchAll(/^import\b[^;]*?["']([^"'./][^"']*)["'];$|\bimport\(["']([^"'./][^"']*)["']\)/gm)) {
    const spec = m[1] ?? m[2] ?? '';
    if (spec.startsWith('node:') || builtins.has(spec)) continue;
    imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec));
  }
  assert.deepEqual([...imported].sort(), Object.keys(pkg.dependencies).sort());
});

test('an installed package (no src/) runs the bundle, never the sources', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'packed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['bin', 'dist', 'package.json', 'proxy.config.yaml']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'claude-meter.js'), 'check-config', join(dir, 'proxy.config.yaml')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /running the sources/);
  // A build older than nothing: with no src/ there is nothing to be stale against.
  rmSync(join(dir, 'dist', 'cli.mjs'));
  const missing = spawnSync(process.execPath, [join(dir, 'bin', 'claude-meter.js'), 'check-config'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /dist\/cli\.mjs is missing/);
});
