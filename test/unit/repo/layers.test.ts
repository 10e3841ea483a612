/**
 * The layering of src/ (.dependency-cruiser.cjs) holds: no module imports a later layer or a
 * peer folder, and no import cycle. The second test proves the rules can fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

function cruise(cwd: string): Violation[] {
  let out: string;
  try {
    out = execFileSync(process.execPath, [CLI, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    out = (e as { stdout: string }).stdout; // a non-zero exit still prints the report
  }
  return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
}

test('src/ keeps its layers: no import of a later layer or a peer folder, no cycle', () => {
  const found = cruise(ROOT).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
  assert.deepEqual(found, []);
});

test('the rules catch a forbidden import, a peer import, a cycle, an unknown folder and a storage adapter used outside composition', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'layers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  const write = (file: string, text: string): void => {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
  };
  write('src/core/money.ts', "import { serve } from '../http/pipeline.ts';\nexport const m = serve;\n");
  write('src/http/pipeline.ts', 'export const serve = 1;\n');
  write('src/usage/tap.ts', "import { route } from '../api/routes.ts';\nexport const t = route;\n");
  write('src/api/routes.ts', 'export const route = 1;\n');
  write('src/store/a.ts', "import { b } from './b.ts';\nexport const a = b;\n");
  write('src/store/b.ts', "import { a } from './a.ts';\nexport const b = a;\n");
  write('src/extras/x.ts', "import { route } from '../api/routes.ts';\nexport const x = route;\n");
  write('src/budget/store/redis.ts', 'export const adapter = 1;\n');
  write('src/budget/gate.ts', "import { adapter } from './store/redis.ts';\nexport const g = adapter;\n");
  write('src/http/admin.ts', "import { adapter } from '../budget/store/redis.ts';\nexport const h = adapter;\n");
  const names = new Set(cruise(dir).map((v) => `${v.rule.name} ${v.from}`));
  assert.ok(names.has('layer:core src/core/money.ts'), [...names].join('\n'));
  assert.ok(names.has('layer:usage src/usage/tap.ts'));
  assert.ok(names.has('no-circular src/store/a.ts'));
  assert.ok(names.has('known-folder src/extras/x.ts'));
  assert.ok(names.has('budget-decides-through-ports src/budget/gate.ts'));
  assert.ok(names.has('adapters-built-in-composition src/http/admin.ts'));
});
