import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool, util, type Dispatcher } from 'undici';
import { upstreamRequestHeaders, isHopByHop, connectionListed, type CredentialPolicy } from './headers.ts';
import { upstreamFailure, type ProxyError } from '../core/errors.ts';
import type { RequestRewrite, ResponseFilter } from '../core/dialect.ts';
import type { Credential } from '../core/request.ts';

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
  /** Every credential header of every dialect (lower-case): the client's are never copied; Outbound.credential is the one sent. */
  credentialHeaders: readonly string[];
  /** Max wait for the upstream's response headers (ms); a model may think long before answering. */
  headersTimeoutMs: number;
  /** Max silence between response body chunks (ms). */
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
  connections: number;
}

/** `identity`: ask the upstream for an uncompressed response (metered routes; see headers.ts). `as-sent`: the client's accept-encoding. */
export type ResponseEncoding = 'identity' | 'as-sent';

/** What the pipeline decided before forwarding: the target and credential it metered, and the body. */
export interface Outbound {
  /** The canonical path and query (core/target.ts), never the target as the client spelled it. */
  target: string;
  /** The one credential to send: the proxy's own key, or the client's that identification chose; null: none. */
  credential: Credential | null;
  /** The already-read request body (sent byte-identical, or as the dialect rewrote it), or null to stream `req` through. */
  body: Buffer | Readable | null;
  encoding: ResponseEncoding;
  /** The dialect rewrote the body (`body` is the rewrite's): a 2xx response reaches the client through its filter. Absent: none. */
  rewrite?: Pick<RequestRewrite, 'responseFilter'> | null;
}

/** What the pipeline forwards through; injectable so benchmarks can swap the engine under the real wiring. */
export interface Forwarder {
  forward(req: IncomingMessage, res: ServerResponse, out: Outbound, hooks: ForwardHooks): void;
  close(): void;
}

/** The header policy of a forwarder's options. */
export function credentialPolicy(opts: Pick<ForwarderOptions, 'credentialHeaders'>): CredentialPolicy {
  if (opts.credentialHeaders.length === 0) throw new Error('a forwarder strips at least one credential header');
  return { headers: new Set(opts.credentialHeaders) };
}

/**
 * The one module that moves bytes to the upstream: undici's low-level dispatch() on a
 * keep-alive Pool, response chunks written straight to the client with backpressure.
 * http-proxy-3 on node:http cost about twice the CPU per request (`npm run bench` measures
 * both engines every run; docs/performance.md).
 */
export class PoolForwarder implements Forwarder {
  readonly #pool: Pool;
  readonly #host: string;
  readonly #credentials: CredentialPolicy;
  /** A path prefix in upstream.url (a relay mounted under /anthropic), prepended to every request path. */
  readonly #prefix: string;

  constructor(opts: ForwarderOptions) {
    const target = new URL(opts.url);
    this.#host = target.host;
    this.#credentials = credentialPolicy(opts);
    this.#prefix = target.pathname.replace(/\/$/, '');
    this.#pool = new Pool(target.origin, {
      connections: opts.connections,
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      keepAliveTimeout: 60_000,
    });
  }

  forward(req: IncomingMessage, res: ServerResponse, out: Outbound, hooks: ForwardHooks): void {
    const host = this.#host;
    const body = out.body;
    const headers = upstreamRequestHeaders(req.headers, {
      credentials: this.#credentials,
      credential: out.credential,
      identity: out.encoding === 'identity',
    });
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    const handler = new UpstreamHandler(res, hooks, host, out.rewrite ?? null);
    (res as HandledResponse)[HANDLER] = handler;
    res.on('close', onResponseClose);
    res.on('finish', onResponseFinish);
    // Gone already (while the budget admitted it): 'close' has fired and will not again, so say so
    // now, or the request is sent and its answer pauses a pooled connection for good.
    if (res.destroyed || res.socket?.destroyed === true) handler.clientClosed();
    this.#pool.dispatch(
      {
        path: this.#prefix + out.target,
        method: req.method ?? 'GET',
        headers: headers as Record<string, string | string[]>,
        body: body ?? (hasBody(req) ? req : null),
      },
      handler,
    );
  }

  close(): void {
    void this.#pool.close();
  }
}

/** GET/HEAD without a declared body must not be sent a stream, or undici would send chunked framing. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined
    ? req.headers['content-length'] !== '0'
    : req.headers['transfer-encoding'] !== undefined;
}

/**
 * The response's listeners are shared functions that find their handler on the response
 * (`this` is the emitter), so no closure is made per request. 'drain' is listened for only
 * while the client is slower than the upstream.
 */
const HANDLER = Symbol('claude-meter.upstream-handler');
type HandledResponse = ServerResponse & { [HANDLER]?: UpstreamHandler };

function onResponseClose(this: HandledResponse): void {
  this[HANDLER]?.clientClosed();
}

function onResponseFinish(this: HandledResponse): void {
  this[HANDLER]?.clientFinished();
}

function onResponseDrain(this: HandledResponse): void {
  this[HANDLER]?.clientDrained();
}

/**
 * One forwarded request as undici's core handler (onConnect/onHeaders/onData/onComplete/
 * onError): the hooks undici's Client calls natively, so no adapter wraps it per request and
 * the raw headers become the client's header object in one pass (docs/performance.md).
 */
class UpstreamHandler implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #hooks: ForwardHooks;
  readonly #host: string;
  readonly #rewrite: Pick<RequestRewrite, 'responseFilter'> | null;
  /** What a rewritten request's 2xx response passes through on its way to the client; null: the bytes go as they came. */
  #filter: ResponseFilter | null = null;
  #ended = false;
  #abort: ((err?: Error) => void) | null = null;
  #clientGone = false;
  #resume: (() => void) | null = null;

  constructor(res: ServerResponse, hooks: ForwardHooks, host: string, rewrite: Pick<RequestRewrite, 'responseFilter'> | null) {
    this.#res = res;
    this.#hooks = hooks;
    this.#host = host;
    this.#rewrite = rewrite;
  }

  #end(how: 'complete' | 'aborted'): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#hooks.onEnd(how);
  }

  clientClosed(): void {
    if (this.#res.writableFinished) return;
    this.#clientGone = true;
    this.#end('aborted'); // first: the abort below surfaces as an error we must not answer
    this.#abort?.(new Error('client closed the connection'));
  }

  clientFinished(): void {
    this.#end('complete');
  }

  clientDrained(): void {
    this.#resume?.();
  }

  // May run more than once when undici retries a request whose connection failed first.
  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    // The client left while the request waited for a pooled connection: do not send it.
    // (Sent, the upstream would do and bill work nobody reads, and our writes to the closed
    // response would pause that connection for good, waiting for a 'drain' that never comes.)
    if (this.#clientGone) abort(new Error('client closed the connection'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true; // 1xx is informational; the final answer follows
    this.#resume = resume;
    const headers = clientHeaders(raw);
    this.#hooks.onResponseStart(status, headers);
    if (this.#rewrite !== null && status < 300) this.#filter = responseFilter(this.#rewrite, headers);
    this.#res.writeHead(status, statusText ?? '', headers as OutgoingHttpHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    // The exchange (and its usage tap) sees the upstream's bytes; the client, what a filter makes of them.
    this.#hooks.onData(chunk);
    let out = chunk;
    if (this.#filter !== null) {
      out = this.#filter.push(chunk);
      if (out.length === 0) return true; // held back: nothing to write, nothing to wait for
    }
    // Backpressure: a slow client pauses the upstream read instead of growing our memory.
    if (this.#res.write(out)) return true;
    this.#res.once('drain', onResponseDrain);
    return false;
  }

  onComplete(): void {
    const tail = this.#filter?.end();
    if (tail !== undefined && tail.length > 0) this.#res.write(tail);
    this.#res.end();
  }

  onError(err: Error): void {
    if (this.#ended) return;
    if (this.#res.headersSent) {
      // The status line is gone; cutting the connection is the only way to tell the client.
      this.#res.destroy();
      this.#end('aborted');
      return;
    }
    this.#ended = true;
    this.#hooks.onError(upstreamFailure(err as NodeJS.ErrnoException, this.#host));
  }
}

/**
 * The filter of a rewritten request's 2xx response, or null. It reads the body as the upstream
 * wrote it, so a compressed one (the upstream ignored `accept-encoding: identity`) goes through
 * unfiltered. A filter may change the body's length: the client's framing becomes chunked.
 */
function responseFilter(rewrite: Pick<RequestRewrite, 'responseFilter'>, headers: IncomingHttpHeaders): ResponseFilter | null {
  const e = headers['content-encoding'];
  const encoding = Array.isArray(e) ? e.join(',') : e; // a repeated header arrives as a list
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return null;
  const ct = headers['content-type'];
  const filter = rewrite.responseFilter(Array.isArray(ct) ? ct[0] : ct);
  if (filter !== null) delete headers['content-length'];
  return filter;
}

/**
 * The upstream's raw response headers as the client's header object: lower-case names
 * (undici's interned names for the common ones), repeated names as arrays, hop-by-hop
 * headers left out (Node frames the body itself), and so are the headers the upstream's
 * Connection header names (RFC 9110 §7.6.1: they were for this hop only). The same object
 * is what the usage tap reads content-type and content-encoding from.
 */
export function clientHeaders(raw: readonly (Buffer | string)[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  let connection: string[] | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = util.headerNameToString(raw[i]!);
    if (isHopByHop(name)) {
      if (name === 'connection') {
        const listed = raw[i + 1]!.toString('latin1');
        if (!ONLY_HOP_BY_HOP.has(listed)) (connection ??= []).push(listed);
      }
      continue;
    }
    const value = raw[i + 1]!.toString('latin1');
    if (!Object.hasOwn(out, name)) {
      // A header literally named __proto__ must become a field, not the object's prototype.
      if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, configurable: true, writable: true });
      else out[name] = value;
      continue;
    }
    const prev = out[name]!;
    if (typeof prev === 'string') out[name] = [prev, value];
    else prev.push(value);
  }
  if (connection !== null) dropListed(out, connection);
  return out;
}

/** The Connection values nearly every response carries, which name nothing to remove. */
const ONLY_HOP_BY_HOP: ReadonlySet<string> = new Set(['keep-alive', 'close', 'Keep-Alive', 'Close']);

/** Removes the headers a Connection header names; rare beyond `keep-alive`/`close`, so `delete` costs nothing on the common path. */
function dropListed(out: Record<string, string | string[]>, connection: string[]): void {
  for (const name of connectionListed(connection) ?? []) {
    if (!isHopByHop(name) && Object.hasOwn(out, name)) delete out[name];
  }
}
