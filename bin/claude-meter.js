#!/usr/bin/env node
// Runs the bundle in dist/ (built from src/ by `npm run build`, which `npm install`, `npm start`
// and `npm test` run first). A checkout without dist/ runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
if (existsSync(bundle)) {
  process.setSourceMapsEnabled(true); // stack traces name src/ files and lines
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
