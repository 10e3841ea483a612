import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { upstreamRequestHeaders } from '../src/upstream/headers.ts';
import { credentialPolicy, type ForwardHooks, type Forwarder, type ForwarderOptions, type Outbound } from '../src/upstream/forward.ts';
import type { CredentialPolicy } from '../src/upstream/headers.ts';
import { upstreamFailure } from '../src/core/errors.ts';

/**
 * The comparison engine, for the benchmark only: http-proxy-3 on Node's native http(s) client
 * with a keep-alive pool, behind the same Forwarder interface as src/upstream/forward.ts, so
 * `npm run bench` re-checks the engine choice under the real wiring (bench/meter-child.ts).
 */
export class HttpProxy3Forwarder implements Forwarder {
  readonly #proxy: ProxyServer;
  readonly #agent: http.Agent;
  readonly #target: URL;
  readonly #credentials: CredentialPolicy;
  readonly #inflight = new WeakMap<IncomingMessage, { hooks: ForwardHooks; cut: () => void }>();

  constructor(opts: ForwarderOptions) {
    this.#credentials = credentialPolicy(opts);
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

  forward(req: IncomingMessage, res: ServerResponse, out: Outbound, hooks: ForwardHooks): void {
    const body = out.body;
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
    this.#inflight.set(req, {
      hooks,
      cut: () => {
        res.destroy();
        end('aborted');
      },
    });

    req.headers = upstreamRequestHeaders(req.headers, {
      credentials: this.#credentials,
      credential: out.credential,
      identity: out.encoding === 'identity',
    });
    // http-proxy-3 sends req.url: make it the canonical target the meter saw.
    req.url = out.target;
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
