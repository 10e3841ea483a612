/** The Recorder's knobs and what it reports (recorder.ts describes the flow they tune). */
import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MeterStore } from './types.ts';

/**
 * What happened to records, reported `n` at a time: 'written' = direct write acknowledged,
 * 'replayed' = journal write acknowledged. A record may see several (journaled, then replayed).
 */
export type RecorderOutcome = 'written' | 'journaled' | 'dropped' | 'replayed' | 'write_failed';

export interface RecorderOptions {
  store: MeterStore;
  logger: Logger;
  /** What the linger, the replay backoff and close()'s deadline wait on. */
  clock: Timers;
  journalMaxRecords: number;
  /** Store calls (batches) in flight at once. */
  concurrency?: number;
  /** Records per store call at most. */
  batchMax?: number;
  /** How long a batch waits for more records (ms); 0: the end of this event-loop turn. */
  lingerMs?: number;
  /** First replay delay after a failure (ms); doubles per failed attempt up to retryMaxMs. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** How long close() keeps trying to drain (ms). */
  closeTimeoutMs?: number;
  /** For metrics (claude_meter_store_records_total, whose `event` label holds the outcome). */
  onOutcome?: (outcome: RecorderOutcome, n: number) => void;
}

export const RECORDER_DEFAULTS = {
  concurrency: 2,
  batchMax: 128,
  // Records are off the request path, so waiting costs nothing visible; at 5,000 req/s a
  // 20 ms linger fills batches of ~100, and each batch costs the proxy and Redis about the
  // same whatever its size (npm run bench).
  lingerMs: 20,
  retryInitialMs: 250, // 0.25 s
  retryMaxMs: 10_000, // 10 s
  closeTimeoutMs: 5_000, // 5 s
} as const;
