/** The messages between the primary and its workers over cluster IPC (prom-client adds its own, typed `prom-client:*`). */
import type { ForecastShare } from '../forecast/service.ts';

export type WorkerMessage =
  /** The worker's server listens (the primary names the address once every worker does). */
  | { type: 'cm:listening'; address: string; port: number }
  /** GET /metrics reached this worker: the primary answers with every worker's, aggregated. */
  | { type: 'cm:scrape'; id: number }
  /** The forecast loop's latest results, from the worker that runs it, for the others. */
  | { type: 'cm:forecast'; share: ForecastShare };

export type PrimaryMessage =
  | { type: 'cm:scraped'; id: number; body: string }
  | { type: 'cm:scraped'; id: number; error: string }
  | { type: 'cm:forecast'; share: ForecastShare };

/** One of ours (the channel carries prom-client's and Node's too), else null. */
export function ours<M extends { type: string }>(m: unknown): M | null {
  const type = typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined;
  return typeof type === 'string' && type.startsWith('cm:') ? (m as M) : null;
}

/** The worker's slot, 1..N, in its environment: a restarted worker takes its slot's number again. */
export const WORKER_ID_ENV = 'CLAUDE_METER_WORKER_ID';
