/**
 * The baseline: the least a pass-through can do. node:http in, undici Pool out,
 * request body streamed up, response streamed back; no parsing, no metering.
 */
import http from 'node:http';
import { Pool } from 'undici';
import { serveChild } from './lib/child-runtime.ts';

const pool = new Pool(process.env['UPSTREAM_URL'] ?? '', { connections: 128, keepAliveTimeout: 60_000 });

// Hop-by-hop headers describe one connection; undici also rejects some of them outright.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'host']);
function strip(h: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  pool.stream(
    { path: req.url ?? '/', method: req.method ?? 'GET', headers: strip(req.headers), body: req },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, strip(headers));
      return res; // undici writes the body into it with backpressure and ends it
    },
    (err) => {
      if (!err) return;
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    },
  );
});
server.requestTimeout = 0;

await serveChild(server);
