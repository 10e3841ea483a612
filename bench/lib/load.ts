/**
 * One closed-loop load run with autocannon. Latencies come from autocannon's per-response
 * event (hrtime, sub-ms) rather than its histogram, whose 1 ms resolution cannot resolve
 * the 0.5 ms goal.
 */
import autocannon from 'autocannon';
import { HEADERS, keyedRequests, MESSAGES_PATH, messagesBody } from './request.ts';
import { percentile, sortedCopy } from './stats.ts';

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  errors: number;
  non2xx: number;
  seconds: number;
}

const BODY = messagesBody(false);

export function runLoad(baseUrl: string, connections: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: baseUrl + MESSAGES_PATH,
        method: 'POST',
        headers: HEADERS,
        body: BODY,
        requests: keyedRequests(), // fresh: autocannon attaches each run's built request to them
        connections,
        pipelining: 1,
        duration: seconds,
      },
      (err, r) => {
        if (err) return reject(err);
        const elapsed = (performance.now() - t0) / 1000;
        const sorted = sortedCopy(latencies);
        resolve({
          rps: latencies.length / elapsed,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          ok: latencies.length,
          errors: r.errors + r.timeouts,
          non2xx: r.non2xx,
          seconds: elapsed,
        });
      },
    );
    inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}
