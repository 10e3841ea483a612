/**
 * RequestRecord ⇄ stream entry fields. Pure.
 *
 * Written as one field, `v2`, holding a JSON array in RECORD_FIELDS order (`XRANGE` shows
 * it as such): one XADD argument instead of ~34 field/value strings costs less Redis and
 * proxy CPU per request (npm run bench), and stores only the values. Readers also accept
 * the two forms earlier builds wrote, `v1` (usage as an object) and flat (one stream field
 * per record field, nulls omitted, booleans 1/0, usage as JSON): the stream is trimmed by
 * length, not age, so such entries stay in it until `store.events_max_len` newer ones follow.
 * A record written before upstreams and billing existed lacks their positions: it was served by
 * the one upstream there was (`default`) and billed the list price in USD, so it reads as such.
 */
import { USD } from '../core/money.ts';
import type { Usage, UsageMissingReason } from '../core/usage.ts';
import type { RequestRecord } from './types.ts';

// A Record (not an array) so adding a reason to the union without listing it here
// fails to compile instead of silently dropping records on decode.
const MISSING_REASONS: Record<UsageMissingReason, true> = {
  error_status: true,
  no_usage_field: true,
  unparseable_body: true,
  stream_incomplete: true,
  upstream_unreachable: true,
  client_gone: true,
  not_metered_endpoint: true,
  body_too_large: true,
  refused_by_budget: true,
  budget_store_unreachable: true,
  ambiguous_request: true,
  invalid_usage: true,
  decompression_limit: true,
  batch_results_unseen: true,
};
/** Reasons earlier builds wrote under another name, read as today's: the stream keeps their entries. */
const RENAMED_REASONS: Readonly<Record<string, UsageMissingReason>> = { rejected_by_budget: 'refused_by_budget' };

/** The positions of the record array (`v1` and `v2`). Append only: a stored position never changes meaning. */
export const RECORD_FIELDS = [
  'id',
  'ts',
  'method',
  'path',
  'model',
  'keyId',
  'tag',
  'status',
  'stream',
  'usage',
  'usageMissing',
  'partial',
  'costPicoUsd',
  'unpriced',
  'free',
  'latencyMs',
  'ttftMs',
  'upstreamLatencyMs',
  'errorType',
  'messageId',
  'estimated',
  'upstream',
  'currency',
  'billedPico',
  'billedUnpriced',
  'usageAdjusted',
] as const;

/** The upstream of a record written before there was more than one. */
const FIRST_UPSTREAM = 'default';

/** `v2` holds the usage as an array in this order (`v1` held an object with these keys). Append only. */
export const USAGE_FIELDS = [
  'input',
  'output',
  'cacheCreation',
  'cacheCreation5m',
  'cacheCreation1h',
  'cacheRead',
  'webSearchRequests',
  'webFetchRequests',
  'serviceTier',
  'inferenceGeo',
  'speed',
] as const satisfies ReadonlyArray<keyof Usage>;

/**
 * One stream field, `v2`: the JSON array of RECORD_FIELDS with the usage as an array of
 * USAGE_FIELDS. Leaving out the usage key names makes every entry the stream keeps ~40%
 * smaller in Redis memory (bench/dedupe-memory.ts).
 */
export function encodeRecord(r: RequestRecord): [string, string] {
  const u = r.usage;
  return [
    'v2',
    JSON.stringify([
      r.id,
      r.ts,
      r.method,
      r.path,
      r.model,
      r.keyId,
      r.tag,
      r.status,
      r.stream ? 1 : 0,
      u === null
        ? null
        : [
            u.input,
            u.output,
            u.cacheCreation,
            u.cacheCreation5m,
            u.cacheCreation1h,
            u.cacheRead,
            u.webSearchRequests,
            u.webFetchRequests,
            u.serviceTier,
            u.inferenceGeo,
            u.speed,
          ],
      r.usageMissing,
      r.partial ? 1 : 0,
      r.costPicoUsd,
      r.unpriced ? 1 : 0,
      r.free ? 1 : 0,
      r.latencyMs,
      r.ttftMs,
      r.upstreamLatencyMs,
      r.errorType,
      r.messageId,
      r.estimated ? 1 : 0,
      r.upstream,
      r.currency,
      r.billedPico,
      r.billedUnpriced ? 1 : 0,
      r.usageAdjusted,
    ]),
  ];
}

/** Decodes the field list XRANGE returns (any form); null when a required field is missing or malformed. */
export function decodeRecord(flat: readonly string[]): RequestRecord | null {
  let m: Map<string, string> | null;
  if (flat.length === 2 && flat[0] === 'v2') m = fromArray(flat[1] ?? '', true);
  else if (flat.length === 2 && flat[0] === 'v1') m = fromArray(flat[1] ?? '', false);
  else m = fromFlat(flat);
  return m === null ? null : fromFields(m);
}

function fromFlat(flat: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i] ?? '', flat[i + 1] ?? '');
  return m;
}

/** A `v1`/`v2` array as the field map of the flat form, so one validator reads all three; `v2` usage arrays become usage objects. */
function fromArray(json: string, usageArray: boolean): Map<string, string> | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null;
  }
  if (!Array.isArray(v)) return null;
  const m = new Map<string, string>();
  RECORD_FIELDS.forEach((k, i) => {
    let x: unknown = v[i];
    if (x === null || x === undefined) return;
    if (k === 'usage' && usageArray) {
      if (!Array.isArray(x))
        x = 'not an array'; // parseUsage rejects it
      else x = Object.fromEntries(USAGE_FIELDS.map((f, j) => [f, (x as unknown[])[j] ?? null]));
    }
    m.set(k, typeof x === 'object' ? JSON.stringify(x) : String(x));
  });
  return m;
}

function fromFields(m: Map<string, string>): RequestRecord | null {
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
  const usageMissing = missing === null ? null : missingReason(missing);
  if (usageMissing === undefined) return null;
  const unpriced = m.get('unpriced') === '1';
  // Absent: an entry from before billing, billed the list price (see the header).
  const billedPico = m.has('billedPico') ? num('billedPico') : cost;
  if (billedPico === null) return null;
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
    estimated: m.get('estimated') === '1',
    upstream: str('upstream') ?? FIRST_UPSTREAM,
    costPicoUsd: cost,
    unpriced,
    currency: str('currency') ?? USD,
    billedPico,
    billedUnpriced: m.has('billedUnpriced') ? m.get('billedUnpriced') === '1' : unpriced,
    usageAdjusted: str('usageAdjusted'),
    free: m.get('free') === '1',
    latencyMs,
    ttftMs: num('ttftMs'),
    upstreamLatencyMs: num('upstreamLatencyMs'),
    errorType: str('errorType'),
    messageId: str('messageId'),
  };
}

function missingReason(s: string): UsageMissingReason | undefined {
  if (Object.hasOwn(RENAMED_REASONS, s)) return RENAMED_REASONS[s];
  return Object.hasOwn(MISSING_REASONS, s) ? (s as UsageMissingReason) : undefined;
}

function parseUsage(json: string): Usage | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null; // a corrupt entry is skipped by the caller, same as any malformed one
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
