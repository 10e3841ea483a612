/**
 * RequestRecord ⇄ flat stream fields (XADD takes field/value strings). Pure.
 * Null values are omitted rather than encoded, so `''` and null stay distinct;
 * usage is JSON because it is a nested object read back only for display.
 */
import type { Usage, UsageMissingReason } from '../usage/types.ts';
import type { RequestRecord } from './types.ts';

// A Record (not an array) so adding a reason to the union without listing it here
// fails to compile instead of silently dropping events on decode.
const MISSING_REASONS: Record<UsageMissingReason, true> = {
  error_status: true,
  no_usage_field: true,
  unparseable_body: true,
  stream_incomplete: true,
  upstream_unreachable: true,
  not_metered_endpoint: true,
  body_too_large: true,
  rejected_by_budget: true,
  budget_store_unreachable: true,
};

/** Appends one field; a module function, not a closure: tsx names every closure per call (see request-body.ts). */
function put(f: string[], k: string, v: string | number | boolean | null): void {
  if (v === null) return;
  f.push(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
}

export function encodeEvent(r: RequestRecord): string[] {
  const f: string[] = [];
  put(f, 'id', r.id);
  put(f, 'ts', r.ts);
  put(f, 'method', r.method);
  put(f, 'path', r.path);
  put(f, 'model', r.model);
  put(f, 'keyId', r.keyId);
  put(f, 'tag', r.tag);
  put(f, 'status', r.status);
  put(f, 'stream', r.stream);
  put(f, 'usage', r.usage === null ? null : JSON.stringify(r.usage));
  put(f, 'usageMissing', r.usageMissing);
  put(f, 'partial', r.partial);
  put(f, 'costPicoUsd', r.costPicoUsd);
  put(f, 'unpriced', r.unpriced);
  put(f, 'free', r.free);
  put(f, 'latencyMs', r.latencyMs);
  put(f, 'ttftMs', r.ttftMs);
  put(f, 'upstreamLatencyMs', r.upstreamLatencyMs);
  put(f, 'errorType', r.errorType);
  put(f, 'messageId', r.messageId);
  return f;
}

/** Decodes the flat field list XRANGE returns; null when a required field is missing or malformed. */
export function decodeEvent(flat: readonly string[]): RequestRecord | null {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i] ?? '', flat[i + 1] ?? '');
  const str = (k: string): string | null => m.get(k) ?? null;
  const num = (k: string): number | null => {
    const v = m.get(k);
    if (v === undefined || v === '') return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  };
  const id = str('id');
  const ts = num('ts');
  const method = str('method');
  const path = str('path');
  const keyId = str('keyId');
  const tag = str('tag');
  const status = num('status');
  const cost = num('costPicoUsd');
  const latencyMs = num('latencyMs');
  if (id === null || ts === null || method === null || path === null || keyId === null) return null;
  if (tag === null || status === null || cost === null || latencyMs === null) return null;
  const usageJson = str('usage');
  const usage = usageJson === null ? null : parseUsage(usageJson);
  if (usageJson !== null && usage === null) return null;
  const missing = str('usageMissing');
  const usageMissing = missing === null ? null : isMissingReason(missing) ? missing : undefined;
  if (usageMissing === undefined) return null;
  return {
    id,
    ts,
    method,
    path,
    model: str('model'),
    keyId,
    tag,
    status,
    stream: m.get('stream') === '1',
    usage,
    usageMissing,
    partial: m.get('partial') === '1',
    costPicoUsd: cost,
    unpriced: m.get('unpriced') === '1',
    free: m.get('free') === '1',
    latencyMs,
    ttftMs: num('ttftMs'),
    upstreamLatencyMs: num('upstreamLatencyMs'),
    errorType: str('errorType'),
    messageId: str('messageId'),
  };
}

function isMissingReason(s: string): s is UsageMissingReason {
  return Object.hasOwn(MISSING_REASONS, s);
}

function parseUsage(json: string): Usage | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null; // a corrupt event is skipped by the caller, same as any malformed entry
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const n = (k: string): number | null => (typeof o[k] === 'number' ? o[k] : null);
  const nn = (k: string): number | null | undefined => (o[k] === null ? null : typeof o[k] === 'number' ? o[k] : undefined);
  const s = (k: string): string | null => (typeof o[k] === 'string' ? o[k] : null);
  const input = n('input');
  const output = n('output');
  const cacheCreation = n('cacheCreation');
  const cacheRead = n('cacheRead');
  const webSearchRequests = n('webSearchRequests');
  const webFetchRequests = n('webFetchRequests');
  const cacheCreation5m = nn('cacheCreation5m');
  const cacheCreation1h = nn('cacheCreation1h');
  if (input === null || output === null || cacheCreation === null || cacheRead === null) return null;
  if (webSearchRequests === null || webFetchRequests === null) return null;
  if (cacheCreation5m === undefined || cacheCreation1h === undefined) return null;
  return {
    input,
    output,
    cacheCreation,
    cacheCreation5m,
    cacheCreation1h,
    cacheRead,
    webSearchRequests,
    webFetchRequests,
    serviceTier: s('serviceTier'),
    inferenceGeo: s('inferenceGeo'),
    speed: s('speed'),
  };
}
