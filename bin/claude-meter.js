#!/usr/bin/env node
// Runs the bundle in dist/ (built from src/ by `npm run build`; `npm install`, `npm start`,
// `npm test` and `npm pack` build it first). The published package holds dist/ and no src/,
// so it runs the bundle alone. In a git checkout, when dist/ is missing or a file in src/ is
// newer than the bundle (sources edited or pulled, not rebuilt), it runs the TypeScript
// sources through tsx (a devDependency) instead, and says so: a stale bundle never runs silently.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
const src = fileURLToPath(new URL('../src/', import.meta.url));

function newerSource(builtMs) {
  for (const f of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    const st = statSync(src + f);
    if (st.isFile() && st.mtimeMs > builtMs) return f;
  }
  return null;
}

const checkout = existsSync(src);
const stale = !checkout ? null : existsSync(bundle) ? newerSource(statSync(bundle).mtimeMs) : 'no dist/';
if (stale === null) {
  if (!existsSync(bundle)) {
    process.stderr.write('claude-meter: dist/cli.mjs is missing from this install (the package is built by npm pack)\n');
    process.exit(1);
  }
  process.setSourceMapsEnabled(true); // stack traces name src/ files and lines
  await import(bundle.href);
} else {
  if (existsSync(bundle))
    process.stderr.write(`claude-meter: src/${stale} is newer than dist/cli.mjs: running the sources (npm run build to rebuild)\n`);
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('claude-meter: no current dist/ and no tsx to run the sources: run npm run build\n');
    process.exit(1);
  }
  register();
  await import('../src/cli.ts');
}
