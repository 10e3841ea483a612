import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import { upstreamRequestHeaders } from './headers.ts';
import { upstreamFailure, type ProxyError } from '../http/errors.ts';

/**
 * What the pipeline learns about one forwarded exchange. Called in order:
 * onResponseStart? → onData* → onEnd (exactly once), or onError (exactly once, before any byte was sent).
 * The hooks observe copies of the bytes; they cannot change or delay what the client gets.
 */
export interface ForwardHooks {
  onResponseStart(status: number, headers: IncomingHttpHeaders): void;
  onData(chunk: Buffer): void;
  /** `complete`: the client got the last byte. `aborted`: the client left, or the upstream cut the body. */
  onEnd(how: 'complete' | 'aborted'): void;
  /** The upstream could not be reached or timed out before answering. The pipeline writes the error response. */
  onError(err: ProxyError): void;
}

export interface ForwarderOptions {
  url: string;
  apiKey: string | null;
  /** Max wait for the upstream's response headers (ms); a model may think long before answering. */
  headersTimeoutMs: number;
  /** Max silence between response body chunks (ms). */
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
  connections: number;
}

/**
 * The one module that moves bytes to the upstream. http-proxy-3 on Node's native
 * http(s) client with a keep-alive pool: `npm run bench` measured it against an
 * undici-based forwarder (see README) and we keep this single path.
 */
export class Forwarder {
  readonly #proxy: ProxyServer;
  readonly #agent: http.Agent;
  readonly #target: URL;
  readonly #opts: ForwarderOptions;
  readonly #inflight = new WeakMap<IncomingMessage, { hooks: ForwardHooks; cut: () => void }>();

  constructor(opts: ForwarderOptions) {
    this.#opts = opts;
    this.#target = new URL(opts.url);
    const isHttps = this.#target.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxSockets: opts.connections };
    this.#agent = isHttps ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
    this.#proxy = new ProxyServer({
      target: opts.url,
      agent: this.#agent,
      changeOrigin: true,
      // Keep the upstream's Location headers and cookies untouched: we are transparent.
      xfwd: false,
    });
    this.#proxy.on('proxyRes', (proxyRes, req) => this.#onProxyRes(proxyRes, req));
    this.#proxy.on('proxyReq', (proxyReq, _req, _res, _opts, socket) => {
      // Until headers arrive the budget is headersTimeoutMs; after that, the allowed silence between body chunks.
      const onIdle = () => proxyReq.destroy(codedError('upstream idle timeout', 'ETIMEDOUT'));
      proxyReq.setTimeout(opts.headersTimeoutMs, onIdle);
      proxyReq.once('response', () => proxyReq.setTimeout(opts.bodyTimeoutMs, onIdle));
      // The idle timeout is minutes long (a model can think that long before the
      // first byte); a dead host should fail in seconds, so connecting has its own bound.
      if (!socket.connecting) return;
      const timer = setTimeout(() => {
        proxyReq.destroy(codedError('connect timeout', 'ECONNTIMEOUT'));
      }, opts.connectTimeoutMs);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
  }

  /**
   * Forwards one request. `body` is the already-read request body for routes the
   * pipeline had to inspect (sent byte-identical), or null to stream `req` through.
   */
  forward(req: IncomingMessage, res: ServerResponse, body: Buffer | Readable | null, hooks: ForwardHooks): void {
    let settled = false;
    const end = (how: 'complete' | 'aborted') => {
      if (settled) return;
      settled = true;
      hooks.onEnd(how);
    };
    const fail = (err: NodeJS.ErrnoException) => {
      if (settled) return;
      if (res.headersSent) {
        // The status line is gone; cutting the connection is the only way to tell the client.
        res.destroy();
        end('aborted');
        return;
      }
      settled = true;
      hooks.onError(upstreamFailure(err, this.#target.host));
    };
    this.#inflight.set(req, { hooks, cut: () => { res.destroy(); end('aborted'); } });

    req.headers = upstreamRequestHeaders(req.headers, { upstreamHost: this.#target.host, apiKey: this.#opts.apiKey });
    if (Buffer.isBuffer(body)) {
      req.headers['content-length'] = String(body.length);
    }

    res.once('close', () => {
      if (!res.writableFinished) end('aborted');
    });
    res.once('finish', () => end('complete'));

    const options = body === null ? {} : { buffer: Buffer.isBuffer(body) ? Readable.from([body]) : body };
    this.#proxy.web(req, res, options, (err: Error) => fail(err as NodeJS.ErrnoException));
  }

  #onProxyRes(proxyRes: IncomingMessage, req: IncomingMessage): void {
    const state = this.#inflight.get(req);
    if (!state) return;
    this.#inflight.delete(req);
    state.hooks.onResponseStart(proxyRes.statusCode ?? 502, proxyRes.headers);
    // A second 'data' listener next to http-proxy-3's pipe() is passive: the same
    // Buffer objects reach both, and backpressure still pauses the source via pipe().
    proxyRes.on('data', (chunk: Buffer) => state.hooks.onData(chunk));
    // The upstream cut the body mid-way: pipe() never ends `res` then, so we must.
    proxyRes.once('aborted', state.cut);
    proxyRes.once('error', state.cut);
  }

  close(): void {
    this.#proxy.close();
    this.#agent.destroy();
  }
}

function codedError(message: string, code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(message);
  err.code = code;
  return err;
}
