import type { RequestRecord } from '../store/types.ts';
import type { MeterMetrics } from './registry.ts';

/**
 * Model names come from request bodies, i.e. from clients: an unbounded label set
 * would let one buggy client blow up Prometheus. Past this many distinct values,
 * new ones are reported as `other`.
 */
const MAX_MODEL_LABELS = 200;

export function modelLabel(metrics: MeterMetrics, model: string | null): string {
  const m = model ?? 'unknown';
  const seen = metrics.modelLabels;
  if (seen.has(m)) return m;
  if (seen.size >= MAX_MODEL_LABELS) return 'other';
  seen.add(m);
  return m;
}

/** One settled request → every metric it touches. */
export function recordMetrics(metrics: MeterMetrics, r: RequestRecord, model: string): void {
  const labels: Record<string, string> = { model, status: String(r.status) };
  if (metrics.keyLabel) labels['key'] = r.keyId;
  if (metrics.tagLabel) labels['tag'] = r.tag || 'untagged';
  metrics.requests.inc(labels);
  metrics.requestDuration.observe({ model }, r.latencyMs / 1000);
  if (r.ttftMs !== null) metrics.ttft.observe({ model }, r.ttftMs / 1000);
  if (r.partial) metrics.partial.inc({ model });
  if (r.usageMissing !== null) metrics.usageMissing.inc({ reason: r.usageMissing });
  if (r.usageMissing === 'upstream_unreachable') metrics.upstreamErrors.inc({ reason: 'unreachable' });
  else if (r.status >= 500) metrics.upstreamErrors.inc({ reason: `status_${r.status}` });
  else if (r.errorType !== null && r.status < 400) metrics.upstreamErrors.inc({ reason: 'stream_error_event' });
  if (r.unpriced) metrics.unpriced.inc({ model });
  const u = r.usage;
  if (u === null) return;
  const c1h = u.cacheCreation1h ?? 0;
  const tokens: Record<string, number> = {
    input: u.input,
    output: u.output,
    // An unsplit cache write is billed at the 5m rate, so it is counted as 5m.
    cache_creation_5m: u.cacheCreation - c1h,
    cache_creation_1h: c1h,
    cache_read: u.cacheRead,
  };
  for (const [kind, n] of Object.entries(tokens)) if (n > 0) metrics.tokens.inc({ model, kind }, n);
  if (!r.unpriced && r.costPicoUsd > 0) {
    metrics.costPicoByModel.set(model, (metrics.costPicoByModel.get(model) ?? 0n) + BigInt(r.costPicoUsd));
  }
}
