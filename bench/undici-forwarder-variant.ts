/**
 * The alternative engine, for the engine decision only: the same ForwardHooks contract
 * as src/upstream/forward.ts, implemented on undici's low-level dispatch() API
 * (no stream objects on the upstream side; chunks go straight to res.write).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { ForwardHooks, ForwarderOptions } from '../src/upstream/forward.ts';
import { upstreamRequestHeaders } from '../src/upstream/headers.ts';
import { upstreamFailure } from '../src/http/errors.ts';

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

export class UndiciForwarder {
  readonly #pool: Pool;
  readonly #host: string;
  readonly #apiKey: string | null;

  constructor(opts: ForwarderOptions) {
    this.#host = new URL(opts.url).host;
    this.#apiKey = opts.apiKey;
    this.#pool = new Pool(opts.url, {
      connections: opts.connections,
      connectTimeout: opts.connectTimeoutMs,
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      keepAliveTimeout: 60_000,
    });
  }

  forward(req: IncomingMessage, res: ServerResponse, body: Buffer | Readable | null, hooks: ForwardHooks): void {
    let settled = false;
    const end = (how: 'complete' | 'aborted') => {
      if (settled) return;
      settled = true;
      hooks.onEnd(how);
    };
    const host = this.#host;
    const headers = upstreamRequestHeaders(req.headers, { upstreamHost: host, apiKey: this.#apiKey });
    delete headers['expect']; // undici refuses it; the real client never sends it to the API
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);

    let abort: ((err: Error) => void) | null = null;
    res.once('close', () => {
      if (res.writableFinished) return;
      end('aborted'); // first: the abort below reports an error we must not answer
      abort?.(new Error('client closed'));
    });
    res.once('finish', () => end('complete'));

    this.#pool.dispatch(
      { path: req.url ?? '/', method: req.method ?? 'GET', headers: headers as Record<string, string | string[]>, body: body ?? req },
      {
        onRequestStart(controller) {
          abort = (err) => controller.abort(err);
        },
        onResponseStart(_controller, status, upHeaders: IncomingHttpHeaders, statusMessage) {
          if (status < 200) return; // 1xx: informational, the final answer follows
          hooks.onResponseStart(status, upHeaders);
          const out: IncomingHttpHeaders = {};
          for (const [k, v] of Object.entries(upHeaders)) if (!HOP.has(k)) out[k] = v;
          res.writeHead(status, statusMessage ?? '', out);
        },
        onResponseData(controller, chunk) {
          hooks.onData(chunk);
          if (!res.write(chunk)) {
            controller.pause();
            res.once('drain', () => controller.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError(_controller, err) {
          if (settled) return;
          if (res.headersSent) {
            res.destroy();
            end('aborted');
            return;
          }
          settled = true;
          hooks.onError(upstreamFailure(err as NodeJS.ErrnoException, host));
        },
      },
    );
  }

  close(): void {
    void this.#pool.close();
  }
}
