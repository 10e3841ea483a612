import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { upstreamRequestHeaders, downstreamResponseHeaders } from './headers.ts';
import { upstreamFailure, type ProxyError } from '../http/errors.ts';

/**
 * What the pipeline learns about one forwarded exchange. Called in order:
 * onResponseStart? → onData* → onEnd (exactly once), or onError (exactly once, before any byte was sent).
 * The hooks observe the chunks as they pass; they cannot change or delay what the client gets.
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
 * The one module that moves bytes to the upstream: undici's low-level dispatch() on a
 * keep-alive Pool, response chunks written straight to the client with backpressure.
 *
 * Engine choice, by `npm run bench` (README, Performance): http-proxy-3 on node:http cost
 * about twice the CPU per request and served about half the requests/s at concurrency 64
 * of this path with the same pipeline and recorder. The http-proxy-3 engine is kept in
 * bench/ only, so every benchmark run re-checks the decision; the product has one path.
 */
export class Forwarder {
  readonly #pool: Pool;
  readonly #host: string;
  readonly #apiKey: string | null;

  constructor(opts: ForwarderOptions) {
    const target = new URL(opts.url);
    this.#host = target.host;
    this.#apiKey = opts.apiKey;
    // A path prefix in upstream.url (a relay mounted under /anthropic) is prepended to every request path.
    this.#prefix = target.pathname.replace(/\/$/, '');
    this.#pool = new Pool(target.origin, {
      connections: opts.connections,
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      keepAliveTimeout: 60_000,
    });
  }

  readonly #prefix: string;

  /**
   * Forwards one request. `body` is the already-read request body for routes the
   * pipeline had to inspect (sent byte-identical), or null to stream `req` through.
   */
  /** `identity`: ask the upstream for an uncompressed response (metered routes; see headers.ts). */
  forward(req: IncomingMessage, res: ServerResponse, body: Buffer | Readable | null, hooks: ForwardHooks, identity = false): void {
    // A method and a plain variable rather than closures: run from source (tests), claude-meter
    // goes through tsx, which gives every named closure a defineProperty('name') (~1 µs) per request.
    const exchange = {
      settled: false,
      end(how: 'complete' | 'aborted') {
        if (exchange.settled) return;
        exchange.settled = true;
        hooks.onEnd(how);
      },
    };
    const host = this.#host;
    const headers = upstreamRequestHeaders(req.headers, { upstreamHost: host, apiKey: this.#apiKey, identity });
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);

    let upstream: Dispatcher.DispatchController | null = null;
    res.once('close', () => {
      if (res.writableFinished) return;
      exchange.end('aborted'); // first: the abort below surfaces as an error we must not answer
      upstream?.abort(new Error('client closed the connection'));
    });
    res.once('finish', () => exchange.end('complete'));

    this.#pool.dispatch(
      {
        path: this.#prefix + (req.url ?? '/'),
        method: req.method ?? 'GET',
        headers: headers as Record<string, string | string[]>,
        body: body ?? (hasBody(req) ? req : null),
      },
      {
        onRequestStart(controller) {
          upstream = controller;
        },
        onResponseStart(_controller, status, upstreamHeaders, statusMessage) {
          if (status < 200) return; // 1xx is informational; the final answer follows
          hooks.onResponseStart(status, upstreamHeaders);
          res.writeHead(status, statusMessage ?? '', downstreamResponseHeaders(upstreamHeaders) as OutgoingHttpHeaders);
        },
        onResponseData(controller, chunk) {
          hooks.onData(chunk);
          // Backpressure: a slow client pauses the upstream read instead of growing our memory.
          if (!res.write(chunk)) {
            controller.pause();
            res.once('drain', () => controller.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError(_controller, err) {
          if (exchange.settled) return;
          if (res.headersSent) {
            // The status line is gone; cutting the connection is the only way to tell the client.
            res.destroy();
            exchange.end('aborted');
            return;
          }
          exchange.settled = true;
          hooks.onError(upstreamFailure(err as NodeJS.ErrnoException, host));
        },
      },
    );
  }

  close(): void {
    void this.#pool.close();
  }
}

/** GET/HEAD without a declared body must not be sent a stream, or undici would send chunked framing. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
}
