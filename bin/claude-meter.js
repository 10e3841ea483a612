#!/usr/bin/env node
// Runs the bundle in dist/ (built from src/ by `npm run build`, which `npm install`, `npm start`
// and `npm test` run first). Without dist/, or when a file in src/ is newer than the bundle
// (sources edited or pulled, not rebuilt), it runs the TypeScript sources through tsx instead,
// and says so: a stale bundle is never run silently.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
const src = fileURLToPath(new URL('../src/', import.meta.url));

function newerSource(builtMs) {
  if (!existsSync(src)) return null;
  for (const f of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    const st = statSync(src + f);
    if (st.isFile() && st.mtimeMs > builtMs) return f;
  }
  return null;
}

const stale = existsSync(bundle) ? newerSource(statSync(bundle).mtimeMs) : 'no dist/';
if (stale === null) {
  process.setSourceMapsEnabled(true); // stack traces name src/ files and lines
  await import(bundle.href);
} else {
  if (existsSync(bundle)) process.stderr.write(`claude-meter: src/${stale} is newer than dist/cli.mjs: running the sources (npm run build to rebuild)\n`);
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
