/**
 * The per-request metrics as prom-client's own Counter and Histogram would keep them: the
 * code src/metrics/series.ts replaced. The exposition test compares against it, and
 * bench/metrics-record.ts times it.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { RequestRecord } from '../../src/store/types.ts';

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
export const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
export const PER_REQUEST = [
  'claude_meter_requests_total',
  'claude_meter_tokens_total',
  'claude_meter_request_duration_seconds',
  'claude_meter_time_to_first_token_seconds',
];

/** A registry holding the four families, and the per-request update into them. */
export function promClientReference(opts: { keyLabel: boolean; tagLabel: boolean }): {
  registry: Registry;
  record(r: RequestRecord): void;
} {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({
    name: PER_REQUEST[0]!,
    help: 'Requests handled, by model, upstream and HTTP status returned to the client',
    labelNames: ['model', 'upstream', 'status', ...(opts.keyLabel ? ['key_id'] : []), ...(opts.tagLabel ? ['tag'] : [])],
    registers,
  });
  const tokens = new Counter({
    name: PER_REQUEST[1]!,
    help: 'Tokens metered, by model, upstream and kind (input, output, cache_creation_5m, cache_creation_1h, cache_read)',
    labelNames: ['model', 'upstream', 'kind'],
    registers,
  });
  const duration = new Histogram({
    name: PER_REQUEST[2]!,
    help: 'Time from request arrival to the last byte sent to the client',
    labelNames: ['model', 'upstream'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const ttft = new Histogram({
    name: PER_REQUEST[3]!,
    help: 'Time from request arrival to the first response body byte',
    labelNames: ['model', 'upstream'],
    buckets: TTFT_BUCKETS,
    registers,
  });
  return {
    registry,
    record(r) {
      const model = r.model ?? 'unknown';
      const upstream = r.upstream;
      const labels: Record<string, string> = { model, upstream, status: String(r.status) };
      if (opts.keyLabel) labels['key_id'] = r.keyId;
      if (opts.tagLabel) labels['tag'] = r.tag || 'untagged';
      requests.inc(labels);
      duration.observe({ model, upstream }, r.latencyMs / 1000);
      if (r.ttftMs !== null) ttft.observe({ model, upstream }, r.ttftMs / 1000);
      const u = r.usage;
      if (u === null) return;
      const c1h = u.cacheCreation1h ?? 0;
      const kinds: Record<string, number> = {
        input: u.input,
        output: u.output,
        cache_creation_5m: u.cacheCreation - c1h,
        cache_creation_1h: c1h,
        cache_read: u.cacheRead,
      };
      for (const [kind, n] of Object.entries(kinds)) if (n > 0) tokens.inc({ model, upstream, kind }, n);
    },
  };
}
