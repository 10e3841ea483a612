/**
 * The status page's static files: src/http/status/ when running the sources, dist/status/
 * when running the bundle (scripts/build.mjs copies the folder next to dist/cli.mjs, the
 * same way as the pricing table). Served without the admin token: they hold no data and
 * no secret; the data routes they call need it.
 */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

const DIR = new URL('./status/', import.meta.url);

const FILES: Readonly<Record<string, readonly [file: string, type: string]>> = {
  '/_meter/': ['index.html', 'text/html; charset=utf-8'],
  '/_meter/status/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/_meter/status/chart.js': ['chart.js', 'text/javascript; charset=utf-8'],
  '/_meter/status/style.css': ['style.css', 'text/css; charset=utf-8'],
};

/**
 * Only our own files, no inline code, no other origin: tags and model names come from
 * clients, and even if one slipped past textContent it could not run or phone home.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function isStatusAsset(pathname: string): boolean {
  return Object.hasOwn(FILES, pathname);
}

const cache = new Map<string, Buffer>();

export async function serveStatusAsset(pathname: string, res: ServerResponse, head: boolean): Promise<void> {
  const entry = FILES[pathname];
  if (entry === undefined) throw new Error(`not a status asset: ${pathname}`);
  const [file, type] = entry;
  let body = cache.get(file);
  if (body === undefined) cache.set(file, (body = await readFile(new URL(file, DIR))));
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    // Revalidated on every load, so an upgraded proxy never serves a stale page script.
    'cache-control': 'no-cache',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(head ? undefined : body);
}
