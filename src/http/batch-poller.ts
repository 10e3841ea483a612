/**
 * The batch poller (optional, `batches.poller.api_key`; docs/batches.md): for batches created
 * through the proxy whose results nobody has downloaded through it, it asks the upstream with its
 * own key whether they ended and, when they did, downloads their results through the same meter
 * as a client's download. One proxy polls at a time (a lock in the budget store, as the forecast
 * refit has); lines already counted are skipped by their claims, so a client's download and the
 * poller's never count a line twice.
 */
import { request } from 'undici';
import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { BatchStore, DueHold } from '../store/batch-store.ts';
import { ResultsMeter } from './batch-meter.ts';
import { UNSEEN_PREFIX } from './batch-holds.ts';
import type { PipelineDeps } from './exchange.ts';

/** Batches that can still be processing are at most 24 h old: the poll looks that far ahead of now. */
const HORIZON_MS = 25 * 3_600_000;
/** Batches looked at per poll, at most (oldest expiry first). */
const POLL_LIMIT = 1_000;
/** A batch object is a few hundred bytes; an answer past this is not one. */
const MAX_OBJECT_BYTES = 1024 * 1024;
/** How long one upstream call may wait for headers or between chunks: a poll must end. */
const CALL_TIMEOUT_MS = 60_000;
/** The lock's name in the budget store. */
const LOCK = 'batch-poller';

export interface PollerDeps {
  pipeline: PipelineDeps;
  store: BatchStore;
  clock: Timers;
  logger: Logger;
  /** The live poller settings: its key and interval; null key: off. */
  settings(): { apiKey: string | null; intervalMs: number };
  /** An upstream's URL by name (from the live config), or null when it is gone. */
  upstreamUrl(name: string): string | null;
  /** One proxy at a time: true for the holder of the lock for `ttlMs`. */
  lock(key: string, ttlMs: number, now: number): Promise<boolean>;
}

export class BatchPoller {
  readonly #d: PollerDeps;
  #timer: TimerHandle | null = null;
  #running: Promise<number> | null = null;
  #stopped = false;

  constructor(deps: PollerDeps) {
    this.#d = deps;
  }

  start(): void {
    const tick = (): void => {
      if (this.#d.settings().apiKey !== null) void this.poll();
      this.#timer = this.#d.clock.setTimeout(tick, this.#d.settings().intervalMs).unref();
    };
    this.#timer = this.#d.clock.setTimeout(tick, this.#d.settings().intervalMs).unref();
  }

  /** Stops the timer; resolves when a poll under way has recorded what it read. */
  stop(): Promise<void> {
    if (this.#timer !== null) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#stopped = true;
    return this.#running?.then(() => undefined) ?? Promise.resolve();
  }

  /** One poll, if this proxy holds the lock; resolves to the batches whose results it metered. */
  poll(): Promise<number> {
    this.#running ??= this.#poll().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #poll(): Promise<number> {
    const d = this.#d;
    const { apiKey, intervalMs } = d.settings();
    if (apiKey === null) return 0;
    const now = d.clock.now();
    let open: DueHold[];
    try {
      if (!(await d.lock(LOCK, intervalMs, now))) return 0;
      open = await d.store.dueHolds(now + HORIZON_MS, POLL_LIMIT);
    } catch (err) {
      d.logger.warn({ err }, 'batch poller: store unreachable, next poll later');
      return 0;
    }
    let n = 0;
    for (const { batchId, origin } of open) {
      // A hold kept for a create whose answer was never read names no upstream batch.
      if (batchId.startsWith(UNSEEN_PREFIX)) continue;
      if (this.#stopped) break; // shutting down: the next poll, on any proxy, takes the rest
      const base = d.upstreamUrl(origin.upstream);
      if (base === null) continue;
      try {
        if (await this.#pollOne(base, apiKey, batchId, origin)) n++;
      } catch (err) {
        d.logger.warn({ err, batch: batchId }, 'batch poller: the upstream could not be asked; next poll later');
      }
    }
    return n;
  }

  /** True when the batch had ended and its results were read whole. */
  async #pollOne(base: string, apiKey: string, batchId: string, origin: DueHold['origin']): Promise<boolean> {
    const d = this.#d;
    const headers = { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'user-agent': 'claude-meter batch poller' };
    const root = base.replace(/\/+$/, '');
    const timeouts = { headersTimeout: CALL_TIMEOUT_MS, bodyTimeout: CALL_TIMEOUT_MS };
    const batch = await request(`${root}/v1/messages/batches/${encodeURIComponent(batchId)}`, { headers, ...timeouts });
    const text = await boundedText(batch.body, MAX_OBJECT_BYTES);
    if (batch.statusCode !== 200) throw new Error(`batch ${batchId}: HTTP ${batch.statusCode}`);
    const json = JSON.parse(text) as { processing_status?: unknown; ended_at?: unknown };
    if (json.processing_status !== 'ended') return false;
    const endedAt = typeof json.ended_at === 'string' ? Date.parse(json.ended_at) : Number.NaN;
    if (Number.isFinite(endedAt)) await d.store.noteEnded(batchId, endedAt, d.clock.now());
    const upstream = d.pipeline.settings().upstreams.byName.get(origin.upstream);
    if (upstream === undefined) return false;
    const results = await request(`${root}/v1/messages/batches/${encodeURIComponent(batchId)}/results`, {
      headers: { ...headers, 'accept-encoding': 'identity' },
      ...timeouts,
    });
    if (results.statusCode !== 200) {
      await results.body.dump();
      throw new Error(`batch ${batchId} results: HTTP ${results.statusCode}`);
    }
    const meter = new ResultsMeter(d.pipeline, {
      batchId,
      caller: { keyId: origin.keyId, tag: origin.tag },
      upstream,
      dialect: upstream.dialect,
    });
    meter.start();
    let how: 'complete' | 'aborted' = 'complete';
    try {
      for await (const chunk of results.body) meter.data(chunk as Buffer);
    } catch {
      how = 'aborted';
    }
    return meter.end(how, results.headers['content-range'] !== undefined);
  }
}

/** A body's text, refused past `max` bytes (a hostile upstream must not fill memory). */
async function boundedText(body: AsyncIterable<Buffer | Uint8Array>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) throw new Error(`answer larger than ${max} bytes`);
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export { HORIZON_MS as POLL_HORIZON_MS };
