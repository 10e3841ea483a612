/**
 * Logs an outage of a dependency (Redis) as a few lines, however much traffic meets it: the
 * first failure after a success logs the outage with its error; later failures are counted and
 * summarised at most once per `summaryEveryMs` (on the first failure after that interval, so no
 * timer runs); the first success after them logs the recovery with the outage's length and
 * failure count. A line per failed request would bury every other line at 1,000 req/s.
 */
import type { Clock } from './clock.ts';
import type { Logger } from './logger.ts';

export interface OutageMessages {
  /** The first failure: what fails and what the component does meanwhile. */
  down: string;
  /** The periodic summary while it lasts. */
  still: string;
  /** The first success after failures. */
  up: string;
}

export interface OutageLogOptions {
  logger: Logger;
  /** Where now() comes from (the summary interval and the outage length). */
  clock: Clock;
  messages: OutageMessages;
  /** The level of the down and summary lines (the recovery is info). Default warn. */
  level?: 'warn' | 'error';
  /** At most one summary per this many ms (default 60 s). */
  summaryEveryMs?: number;
}

type Fields = Record<string, unknown>;

export const OUTAGE_SUMMARY_EVERY_MS = 60_000;

export class OutageLog {
  readonly #o: OutageLogOptions;
  readonly #everyMs: number;
  #down = false;
  #since = 0;
  #lastLine = 0;
  #total = 0;
  #sinceLine = 0;

  constructor(opts: OutageLogOptions) {
    this.#o = opts;
    this.#everyMs = opts.summaryEveryMs ?? OUTAGE_SUMMARY_EVERY_MS;
  }

  /** True between a failure and the next success. */
  get down(): boolean {
    return this.#down;
  }

  /** One failure. `fields` are computed only when a line is written. */
  failed(err: unknown, fields?: () => Fields): void {
    const now = this.#o.clock.now();
    const log = (obj: Fields, msg: string): void => {
      if (this.#o.level === 'error') this.#o.logger.error(obj, msg);
      else this.#o.logger.warn(obj, msg);
    };
    this.#total += 1;
    if (!this.#down) {
      this.#down = true;
      this.#since = now;
      this.#lastLine = now;
      this.#sinceLine = 0;
      log({ err: message(err), ...fields?.() }, this.#o.messages.down);
      return;
    }
    this.#sinceLine += 1;
    if (now - this.#lastLine < this.#everyMs) return;
    log(
      { err: message(err), failures: this.#sinceLine, failures_total: this.#total, down_ms: now - this.#since, ...fields?.() },
      this.#o.messages.still,
    );
    this.#lastLine = now;
    this.#sinceLine = 0;
  }

  /** A success: ends an outage with one line; nothing when there was none. */
  recovered(fields?: () => Fields): void {
    if (!this.#down) return;
    this.#down = false;
    this.#o.logger.info({ failures: this.#total, down_ms: this.#o.clock.now() - this.#since, ...fields?.() }, this.#o.messages.up);
    this.#total = 0;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
