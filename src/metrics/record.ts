import type { RequestRecord } from '../store/types.ts';
import type { MeterMetrics } from './registry.ts';
import { observe } from './series.ts';

/**
 * A request's values take a place in a capped label (labels.ts) unless it was refused as a bad
 * request (4xx: a bad key, an unknown model, a malformed body): those reuse a value that has a
 * place, else count as `other`, so a flood of them takes no place from a real caller. A 429 (a
 * budget, a rate limit), a 499 (forwarded, then the client left) and a 5xx say nothing against
 * the request: they place their values.
 */
function claims(status: number): boolean {
  return status < 400 || status === 429 || status === 499 || status >= 500;
}

/** The model label of a request: model names come from clients, so the label is capped (labels.ts). */
export function modelLabel(metrics: MeterMetrics, model: string | null, status = 200): string {
  return metrics.labels.model.value(model ?? 'unknown', claims(status));
}

/** One settled request → every metric it touches. `cacheSavingsPico`: what its cache reads saved (meterPriced). */
export function recordMetrics(metrics: MeterMetrics, r: RequestRecord, model: string, cacheSavingsPico = 0): void {
  const series = metrics.series;
  // A config name, so it always claims a place; the cap only bounds renames across reloads.
  const upstream = metrics.labels.upstream.value(r.upstream);
  const s = series.of(upstream, model);
  const status = String(r.status);
  // The series key holds exactly the enabled labels' values: a disabled label must not
  // split (and grow) the table, e.g. one entry per API key when only tags are labelled.
  const keyValue = metrics.keyLabel ? metrics.labels.keyId.value(r.keyId, claims(r.status)) : '';
  const tagValue = metrics.tagLabel ? metrics.labels.tag.value(r.tag || 'untagged', claims(r.status)) : '';
  const key = metrics.keyLabel || metrics.tagLabel ? `${status}\u0000${keyValue}\u0000${tagValue}` : status;
  const req = s.requests.get(key);
  if (req !== undefined) req.value += 1;
  else {
    const labels: Record<string, string> = { model, upstream, status };
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
  if (r.billedUnpriced) metrics.billedUnpriced.inc({ model, upstream });
  if (r.usageAdjusted !== null) metrics.usageAdjusted.inc({ upstream, reason: metrics.labels.adjustedReason.value(r.usageAdjusted) });
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
  if (!r.billedUnpriced && r.billedPico > 0) s.billedPico.set(r.currency, (s.billedPico.get(r.currency) ?? 0n) + BigInt(r.billedPico));
  if (cacheSavingsPico > 0) {
    metrics.cacheSavingsPicoByModel.set(model, (metrics.cacheSavingsPicoByModel.get(model) ?? 0n) + BigInt(cacheSavingsPico));
  }
}
