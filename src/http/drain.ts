/**
 * A server's shutdown drain: stop accepting, close idle keep-alive connections at once (they
 * would otherwise hold the server open until their keep-alive timeout, over a minute), let the
 * requests in flight finish until a deadline, then cut what is still open. Cut responses end
 * as a client that left: a stream is recorded as partial, a request still waiting for its
 * answer as 499 `client_gone`.
 */
import type { Server, ServerResponse } from 'node:http';
import type { TimerHandle, Timers } from '../lib/clock.ts';

/** How often idle connections are closed during the drain: a response that ends leaves its keep-alive connection idle. */
const SWEEP_MS = 100;

export interface DrainOptions {
  timers: Timers;
  /** How long requests in flight may take (ms); 0 cuts at once. */
  deadlineMs: number;
  /** Called once, just before the connections still open are cut. */
  onDeadline?: () => void;
}

/** Resolves once every connection is closed; true when the deadline cut some. */
export async function drainServer(server: Server, o: DrainOptions): Promise<boolean> {
  // A response begun from now on closes its connection when done (before any of its bytes).
  server.prependListener('request', closeWhenDone);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let sweep: TimerHandle | null = null;
  const arm = (): void => {
    sweep = o.timers.setTimeout(() => {
      server.closeIdleConnections();
      arm();
    }, SWEEP_MS);
    sweep.unref();
  };
  arm();
  let deadline: TimerHandle | null = null;
  const expired = new Promise<true>((resolve) => {
    deadline = o.timers.setTimeout(() => resolve(true), o.deadlineMs);
  });
  const cut = await Promise.race([closed.then(() => false), expired]);
  if (deadline !== null) o.timers.clearTimeout(deadline);
  if (sweep !== null) o.timers.clearTimeout(sweep);
  if (cut) {
    o.onDeadline?.();
    server.closeAllConnections();
    await closed;
  }
  server.off('request', closeWhenDone);
  return cut;
}

function closeWhenDone(_req: unknown, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
}
