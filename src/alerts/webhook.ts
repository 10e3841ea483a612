/**
 * Delivers alerts to one webhook URL. send() is synchronous and never throws: an alert
 * is a side channel and must never delay or fail the proxied request that triggered it.
 *
 * Flow: send → bounded queue → POST (≤ `concurrency` in flight) → retry network errors,
 * timeouts, 429 and 5xx with capped exponential backoff (or the server's retry-after)
 * up to maxAttempts → one error log per alert that could not be delivered.
 * Only the URL's origin is ever logged: webhook URLs (Slack's, for one) carry a secret in the path.
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { alertPayload } from './format.ts';
import type { AlertEvent, AlertKind, AlertResult } from './types.ts';

export interface WebhookAlerterOptions {
  /** null disables alerting: send() is a no-op. */
  url: string | null;
  /** Per attempt, from connect to the end of the response body. */
  timeoutMs: number;
  /** Total attempts per alert, including the first. */
  maxAttempts: number;
  logger: Logger;
  /** What attempt timeouts, retry backoff (and its jitter) and close()'s deadline wait on. */
  clock: Timers;
  /** For metrics: 'retried' once per extra attempt, then exactly one 'sent' or 'failed' per accepted alert. */
  onResult?: (r: AlertResult) => void;
  /** Delay before the retry that follows failed attempt number `attempt` (1-based); default defaultBackoffMs. */
  backoffMs?: (attempt: number) => number;
  /** Defaults to a private keep-alive Agent that close() destroys; a caller's dispatcher is left open. */
  dispatcher?: Dispatcher;
  /** Alerts queued or in flight at once (default 1,000); beyond that new alerts are dropped. */
  maxPending?: number;
  /** POSTs in flight at once (default 2): chat webhooks rate-limit hard. */
  concurrency?: number;
  /** How long close() lets pending deliveries and retries run before cancelling them (default 5 s). */
  closeTimeoutMs?: number;
}

const MAX_DELAY_MS = 30_000;

/** 500 ms × 2^(attempt−1), capped at 30 s, with "equal jitter" (`random` in [0, 1)) so many proxies don't retry in lockstep. */
export function defaultBackoffMs(attempt: number, random: number): number {
  const base = Math.min(MAX_DELAY_MS, 500 * 2 ** (attempt - 1));
  return base / 2 + random * (base / 2);
}

interface Job {
  kind: AlertKind;
  budget: string;
  body: string;
}
type Outcome = { ok: true } | { ok: false; retry: boolean; retryAfterMs: number | null; detail: object };

export class WebhookAlerter {
  readonly #target: { url: URL; dispatcher: Dispatcher } | null;
  readonly #urlError: string | null;
  readonly #origin: string;
  readonly #ownAgent: Agent | null;
  readonly #log: Logger;
  readonly #clock: Timers;
  readonly #onResult: (r: AlertResult) => void;
  readonly #backoffMs: (attempt: number) => number;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #maxPending: number;
  readonly #concurrency: number;
  readonly #closeTimeoutMs: number;
  readonly #queue: Job[] = [];
  /** Aborts in-flight requests and backoff sleeps; close() calls them all. */
  readonly #cancels = new Set<() => void>();
  #idleWaiters: Array<() => void> = [];
  #inFlight = 0;
  #pumpScheduled = false;
  #overflowing = false;
  #dropped = 0;
  #closed = false;
  #stopped = false;
  #closing: Promise<void> | null = null;

  constructor(opts: WebhookAlerterOptions) {
    this.#log = opts.logger;
    this.#clock = opts.clock;
    this.#onResult = opts.onResult ?? (() => {});
    this.#backoffMs = opts.backoffMs ?? ((attempt) => defaultBackoffMs(attempt, this.#clock.random()));
    this.#timeoutMs = opts.timeoutMs;
    this.#maxAttempts = positiveInt('maxAttempts', opts.maxAttempts);
    this.#maxPending = positiveInt('maxPending', opts.maxPending ?? 1_000);
    this.#concurrency = positiveInt('concurrency', opts.concurrency ?? 2);
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? 5_000;
    if (!(this.#timeoutMs > 0)) throw new RangeError(`WebhookAlerter timeoutMs must be > 0, got ${this.#timeoutMs}`);
    const { url, error } = parseUrl(opts.url);
    this.#urlError = error;
    this.#origin = url?.origin ?? '(invalid url)';
    // A bad URL is a config mistake, not a reason to stop the proxy: every alert fails loudly instead.
    if (error !== null) this.#log.error({ err: error }, 'alert webhook url is invalid; alerts will not be delivered');
    this.#ownAgent = url && !opts.dispatcher ? new Agent({ connections: this.#concurrency }) : null;
    const dispatcher = opts.dispatcher ?? this.#ownAgent;
    this.#target = url && dispatcher ? { url, dispatcher } : null;
  }

  /** Queues an alert and returns at once; the outcome goes to the logs and onResult. */
  send(e: AlertEvent): void {
    try {
      if (this.#target === null && this.#urlError === null) {
        return this.#log.debug({ alert: e.kind, budget: e.budget }, 'alert not sent: no webhook url');
      }
      const job = { kind: e.kind, budget: e.budget, body: JSON.stringify(alertPayload(e)) };
      if (this.#urlError !== null) return this.#fail(job, 0, { error: `invalid webhook url: ${this.#urlError}` });
      if (this.#closed) return this.#fail(job, 0, { error: 'alerter closed' });
      if (this.#queue.length + this.#inFlight >= this.#maxPending) return this.#drop(job);
      this.#queue.push(job);
      // Start the POST after the caller's synchronous work, not inside it.
      if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        queueMicrotask(() => ((this.#pumpScheduled = false), this.#pump()));
      }
    } catch (err) {
      safe(() => this.#log.error({ alert: e?.kind, err: errMessage(err) }, 'alert could not be queued'));
      safe(() => this.#onResult('failed'));
    }
  }

  /** Resolves once every accepted alert is sent or has failed, retries included. */
  flush(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops accepting alerts, lets pending ones run for closeTimeoutMs, then cancels the rest (each fails). */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      let expire!: () => void;
      const expired = new Promise<void>((resolve) => (expire = resolve));
      // Not unref'd: whoever awaits close() asked for this bounded wait.
      const timer = this.#clock.setTimeout(() => expire(), this.#closeTimeoutMs);
      await Promise.race([this.flush(), expired]);
      this.#clock.clearTimeout(timer);
      this.#stopped = true;
      for (const job of this.#queue.splice(0)) this.#fail(job, 0, { error: 'cancelled at shutdown' });
      for (const cancel of this.#cancels) cancel();
      await this.flush();
      await this.#ownAgent?.destroy();
    })();
    return this.#closing;
  }

  #pump(): void {
    while (!this.#stopped && this.#inFlight < this.#concurrency) {
      const job = this.#queue.shift();
      if (job === undefined) break;
      this.#inFlight += 1;
      void this.#deliver(job)
        .catch((err: unknown) => this.#fail(job, 0, { error: `internal: ${errMessage(err)}` }))
        .finally(() => {
          this.#inFlight -= 1;
          if (this.#queue.length + this.#inFlight < this.#maxPending) this.#overflowing = false;
          this.#pump();
        });
    }
    if (this.#queue.length === 0 && this.#inFlight === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #deliver(job: Job): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) safe(() => this.#onResult('retried'));
      const o = await this.#attempt(job);
      if (o.ok) return safe(() => this.#onResult('sent'));
      if (!o.retry || attempt >= this.#maxAttempts || this.#stopped) return this.#fail(job, attempt, o.detail);
      const delayMs = Math.min(MAX_DELAY_MS, Math.max(0, o.retryAfterMs ?? this.#backoffMs(attempt)));
      const info = { alert: job.kind, budget: job.budget, target: this.#origin, attempt, delayMs, ...o.detail };
      safe(() => this.#log.debug(info, 'alert webhook attempt failed, will retry'));
      if (!(await this.#sleep(delayMs))) return this.#fail(job, attempt, { ...o.detail, cancelled: 'at shutdown' });
    }
  }

  async #attempt(job: Job): Promise<Outcome> {
    const ac = new AbortController();
    let timedOut = false;
    const timer = this.#clock.setTimeout(() => ((timedOut = true), ac.abort()), this.#timeoutMs).unref();
    const cancel = (): void => ac.abort();
    this.#cancels.add(cancel);
    try {
      const { url, dispatcher } = this.#target!; // jobs are only queued when there is a target
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'claude-meter' },
        body: job.body,
        signal: ac.signal,
        dispatcher,
      });
      const status = res.statusCode;
      if (status >= 200 && status < 300) return await res.body.dump().then(() => ({ ok: true }));
      const response = await readSnippet(res.body, 200);
      const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(res.headers['retry-after']) : null;
      return { ok: false, retry: status === 429 || status >= 500, retryAfterMs, detail: { status, response } };
    } catch (err) {
      const error = timedOut ? `timeout after ${this.#timeoutMs} ms` : this.#stopped ? 'cancelled at shutdown' : '';
      return { ok: false, retry: !this.#stopped, retryAfterMs: null, detail: { error: error || this.#redact(err) } };
    } finally {
      this.#clock.clearTimeout(timer);
      this.#cancels.delete(cancel);
    }
  }

  /** True after ms, false as soon as close() cancels. Unref'd: a pending retry must not keep the process alive. */
  #sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const cancel = (): void => (this.#clock.clearTimeout(timer), this.#cancels.delete(cancel), resolve(false));
      const timer = this.#clock.setTimeout(() => (this.#cancels.delete(cancel), resolve(true)), ms).unref();
      this.#cancels.add(cancel);
    });
  }

  #fail(job: Job, attempts: number, detail: object): void {
    const info = { alert: job.kind, budget: job.budget, target: this.#origin, attempts, ...detail };
    safe(() => this.#log.error(info, 'alert webhook delivery failed'));
    safe(() => this.#onResult('failed'));
  }

  /** Logged once per overflow episode: a stuck receiver would otherwise turn every alert into a log line. */
  #drop(job: Job): void {
    this.#dropped += 1;
    if (!this.#overflowing) {
      this.#overflowing = true;
      const info = { alert: job.kind, budget: job.budget, maxPending: this.#maxPending, droppedTotal: this.#dropped };
      safe(() => this.#log.error(info, 'alert queue full, dropping alerts'));
    }
    safe(() => this.#onResult('failed'));
  }

  /** Network errors may quote the URL; keep only its origin. */
  #redact(err: unknown): string {
    const href = this.#target?.url.href;
    return href === undefined ? errMessage(err) : errMessage(err).split(href).join(this.#origin);
  }
}

/** Logger and metrics callbacks are the caller's code: their failures must not escape send() or a delivery. */
function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // nothing sensible left to report to
  }
}

function positiveInt(name: string, v: number): number {
  if (Number.isSafeInteger(v) && v >= 1) return v;
  throw new RangeError(`WebhookAlerter ${name} must be a positive integer, got ${v}`);
}

function parseUrl(raw: string | null): { url: URL | null; error: string | null } {
  if (raw === null) return { url: null, error: null };
  try {
    const url = new URL(raw);
    const ok = url.protocol === 'http:' || url.protocol === 'https:';
    return ok ? { url, error: null } : { url: null, error: `unsupported protocol ${url.protocol}` };
  } catch {
    return { url: null, error: 'not a URL' }; // URL's own message quotes the input: don't log it
  }
}

/** retry-after in seconds (fractions accepted); an HTTP-date falls back to the backoff. Capped by the caller. */
function parseRetryAfter(v: string | string[] | undefined): number | null {
  const s = Array.isArray(v) ? v[0] : v;
  return s !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(s) ? Number(s) * 1000 : null;
}

/** The start of an error response (e.g. Slack's `invalid_payload`), without buffering a large body. */
async function readSnippet(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= max) break;
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .slice(0, max)
    .replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

function errMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
