#!/usr/bin/env node
/**
 * `npm run build` (also run by `npm install` through `prepare`, and before `npm start` and
 * `npm test`): bundles src/ into dist/ with esbuild, the TypeScript compiler of tsx.
 *
 * Why a bundle, not tsx at run time: one module instead of ~90, no loader thread, and less
 * event-loop CPU per proxied request (docs/performance.md: measured with bench/ab.ts).
 * Dependencies stay external (node_modules), so dist/ holds only our code. Type checking is
 * `npm run typecheck`'s job (tsc); esbuild only strips types.
 *
 *   node scripts/build.mjs [outdir]          (default dist/)
 *   node scripts/build.mjs --entry bench/meter-child.ts --out .bench/build/meter-child.mjs
 * bench/lib/children.ts imports bundle() to build the benchmark's children the same way.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** One set of options for the product and for the bench's builds of its children. */
export const OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
};

/** Data files read at run time next to the code (`new URL('./x', import.meta.url)`). */
const ASSETS = ['src/pricing/prices.yaml'];
/** Folders read the same way (`new URL('./status/', import.meta.url)`): the status page's HTML, JS and CSS. */
const ASSET_DIRS = ['src/http/status'];

/** `root`: the checkout whose sources to build (the bench builds other checkouts too). */
export async function bundle(entry, outfile, root = ROOT) {
  await build({ ...OPTIONS, absWorkingDir: root, entryPoints: [entry], outfile });
  for (const a of ASSETS) copyFileSync(join(root, a), join(dirname(outfile), a.split('/').pop()));
  // Only when present: the bench also builds older checkouts, from before the status page.
  for (const d of ASSET_DIRS)
    if (existsSync(join(root, d))) cpSync(join(root, d), join(dirname(outfile), d.split('/').pop()), { recursive: true });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const entry = at('--entry') ?? 'src/cli.ts';
  const out = resolve(ROOT, at('--out') ?? join(args[0] && !args[0].startsWith('--') ? args[0] : 'dist', 'cli.mjs'));
  // A fresh folder: nothing from an earlier build (a removed entry, an old asset) survives.
  if (at('--out') === undefined) rmSync(dirname(out), { recursive: true, force: true });
  mkdirSync(dirname(out), { recursive: true });
  await bundle(entry, out);
}
