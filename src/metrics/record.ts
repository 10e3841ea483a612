import type { RequestRecord } from '../store/types.ts';
import type { MeterMetrics } from './registry.ts';
import { observe } from './series.ts';

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

/** One settled request → every metric it touches. `cacheSavingsPico`: what its cache reads saved (meterPriced). */
export function recordMetrics(metrics: MeterMetrics, r: RequestRecord, model: string, cacheSavingsPico = 0): void {
  const series = metrics.series;
  const s = series.model(model);
  const status = String(r.status);
  // The series key holds exactly the enabled labels' values: a disabled label must not
  // split (and grow) the table, e.g. one entry per API key when only tags are labelled.
  const keyValue = metrics.keyLabel ? r.keyId : '';
  const tagValue = metrics.tagLabel ? r.tag || 'untagged' : '';
  const key = metrics.keyLabel || metrics.tagLabel ? `${status}\u0000${keyValue}\u0000${tagValue}` : status;
  const req = s.requests.get(key);
  if (req !== undefined) req.value += 1;
  else {
    const labels: Record<string, string> = { model, status };
    if (metrics.keyLabel) labels['key_id'] = keyValue;
    if (metrics.tagLabel) labels['tag'] = tagValue;
    s.requests.set(key, { labels, value: 1 });
  }
  observe(s.duration, series.durationBounds, r.latencyMs / 1000);
  if (r.ttftMs !== null) observe(s.ttft, series.ttftBounds, r.ttftMs / 1000);
  // The rare outcomes below stay on prom-client's own counters.
  if (r.partial) metrics.partial.inc({ model });
  if (r.usageMissing !== null) metrics.usageMissing.inc({ reason: r.usageMissing });
  if (r.usageMissing === 'upstream_unreachable') metrics.upstreamErrors.inc({ reason: 'unreachable' });
  else if (r.status >= 500) metrics.upstreamErrors.inc({ reason: `status_${r.status}` });
  else if (r.errorType !== null && r.status < 400) metrics.upstreamErrors.inc({ reason: 'stream_error_event' });
  if (r.unpriced) metrics.unpriced.inc({ model });
  const u = r.usage;
  if (u === null) return;
  const c1h = u.cacheCreation1h ?? 0;
  // TOKEN_KINDS order. An unsplit cache write is billed at the 5m rate, so it is counted as 5m.
  const t = s.tokens;
  t[0]! += u.input;
  t[1]! += u.output;
  t[2]! += u.cacheCreation - c1h;
  t[3]! += c1h;
  t[4]! += u.cacheRead;
  if (!r.unpriced && r.costPicoUsd > 0) {
    metrics.costPicoByModel.set(model, (metrics.costPicoByModel.get(model) ?? 0n) + BigInt(r.costPicoUsd));
  }
  if (cacheSavingsPico > 0) {
    metrics.cacheSavingsPicoByModel.set(model, (metrics.cacheSavingsPicoByModel.get(model) ?? 0n) + BigInt(cacheSavingsPico));
  }
}
