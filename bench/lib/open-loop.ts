/**
 * Open-loop load for the soak: requests leave at a fixed rate whatever the answers do (a
 * closed loop would slow down with the proxy and hide a growing backlog). Every answer is
 * read to its end and checked: a 200, a JSON body with usage, or an SSE stream that reaches
 * message_stop; anything else is an error. Latencies are kept per sampling interval.
 */
import { Pool } from 'undici';
import { percentile, sortedCopy } from './stats.ts';

export interface OpenLoopOptions {
  url: string;
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** The i-th request: its headers and body, and whether it asks for a stream. */
  request(i: number): { headers: Record<string, string>; body: string; stream: boolean };
}

export interface Interval {
  sent: number;
  ok: number;
  errors: number;
  p50: number;
  p99: number;
}

export interface OpenLoop {
  /** Resolves when every request has been sent and answered (or failed). */
  done: Promise<void>;
  /** The counts and latencies since the last call. */
  interval(): Interval;
  totals(): { sent: number; ok: number; okStream: number; okJson: number; errors: number; firstErrors: string[] };
}

const TICK_MS = 5;

export function openLoop(o: OpenLoopOptions): OpenLoop {
  const pool = new Pool(o.url, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });
  const total = Math.round(o.rate * o.seconds);
  let sent = 0;
  let answered = 0;
  const all = { ok: 0, okStream: 0, okJson: 0, errors: 0, firstErrors: [] as string[] };
  let iv = { sent: 0, ok: 0, errors: 0, latencies: [] as number[] };
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));

  const fail = (what: string): void => {
    all.errors += 1;
    iv.errors += 1;
    if (all.firstErrors.length < 10) all.firstErrors.push(what);
  };

  const one = async (i: number): Promise<void> => {
    const r = o.request(i);
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: '/v1/messages', method: 'POST', headers: r.headers, body: r.body });
      const text = await res.body.text();
      if (res.statusCode !== 200) return fail(`status ${res.statusCode}: ${text.slice(0, 200)}`);
      if (r.stream ? !text.includes('event: message_stop') : !('usage' in (JSON.parse(text) as object)))
        return fail(`incomplete ${r.stream ? 'stream' : 'body'}`);
      iv.latencies.push(performance.now() - t0);
      iv.ok += 1;
      all.ok += 1;
      if (r.stream) all.okStream += 1;
      else all.okJson += 1;
    } catch (err) {
      fail(String(err));
    } finally {
      answered += 1;
      if (answered === total) {
        clearInterval(timer);
        void pool.close().then(finish);
      }
    }
  };

  const t0 = performance.now();
  // Catches up after a late tick, so the mean rate holds even when this process is descheduled.
  const timer = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * o.rate) / 1000));
    while (sent < due) {
      iv.sent += 1;
      void one(sent++);
    }
  }, TICK_MS);
  if (total === 0) {
    clearInterval(timer);
    void pool.close().then(finish);
  }

  return {
    done,
    interval() {
      const s = sortedCopy(iv.latencies);
      const out = { sent: iv.sent, ok: iv.ok, errors: iv.errors, p50: percentile(s, 50), p99: percentile(s, 99) };
      iv = { sent: 0, ok: 0, errors: 0, latencies: [] };
      return out;
    },
    totals: () => ({ sent, ...all, firstErrors: [...all.firstErrors] }),
  };
}
