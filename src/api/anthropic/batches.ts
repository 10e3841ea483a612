/**
 * What the Message Batches API means for metering (docs/batches.md): which requests are batch
 * calls, what a batch object says about a batch's life, and the one change the proxy makes to
 * its answers: `results_url` rewritten so that the results download comes through the proxy
 * (the official SDKs download from that URL, which names the upstream's origin).
 */
import type { BatchCall, BatchFacts } from '../../core/dialect.ts';
import { looseRoutePath, routePath } from '../../lib/route-path.ts';

/** `/v1/messages/batches`, an id, an action; matched on the loose spelling (routes.ts says why), the id taken as sent. */
const BATCH_PATH = /^\/v1\/messages\/batches(?:\/([^/]+)(?:\/(results|cancel))?)?$/d;

/** A batch call by method and canonical path, or null. Loose toward metering like route(): `/V1/Messages/Batches/` counts. */
export function batchCall(method: string, path: string): BatchCall | null {
  const exact = routePath(path);
  const loose = looseRoutePath(exact);
  const m = BATCH_PATH.exec(loose);
  if (m === null) return null;
  const span = m.indices?.[1];
  // looseRoutePath only lower-cases and trims the tail, so the id sits at the same offsets in the exact path.
  const id = span === undefined ? null : exact.slice(span[0], span[1]);
  const action = m[2] ?? null;
  const verb = method.toUpperCase();
  if (id === null) {
    if (verb === 'POST') return { kind: 'create', id: null };
    if (verb === 'GET') return { kind: 'list', id: null };
    return null;
  }
  if (action === 'results') return verb === 'GET' ? { kind: 'results', id } : null;
  if (action === 'cancel') return verb === 'POST' ? { kind: 'object', id } : null;
  if (verb === 'GET' || verb === 'DELETE') return { kind: 'object', id };
  return null;
}

/** The results path of a batch, relative to a client's base URL (the official SDKs resolve it so, route prefix included). */
export function resultsPath(id: string): string {
  return `/v1/messages/batches/${encodeURIComponent(id)}/results`;
}

/**
 * `"results_url": "…"` members. Batch objects hold ids, statuses, times, counts and URLs, never
 * text a client wrote, and a member name escaped inside a string cannot match (its quote would
 * be `\"`), so a scan finds exactly the members; their values are read and written as JSON.
 */
const RESULTS_URL = /"results_url"\s*:\s*("(?:[^"\\]|\\.)*")/g;

/**
 * A batch object's (or a list's) text with every `results_url` pointing at the proxy: the
 * part from `/v1/messages/batches/…` on, made absolute by `base` (a configured public URL, the
 * route prefix included) or left relative. A URL that names no batch results path (a hostile or
 * odd upstream: the SDK would send the client's key there, unmetered) becomes the results path
 * of the object's own id. Every other byte is unchanged.
 */
export function rewriteResultsUrls(text: string, base: string | null): string {
  let owners: (string | null)[] | null | undefined;
  let k = 0;
  return text.replace(RESULTS_URL, (member: string, value: string) => {
    const i = k++;
    let url: unknown;
    try {
      url = JSON.parse(value);
    } catch {
      return member;
    }
    if (typeof url !== 'string') return member;
    let to = proxiedResultsUrl(url, base);
    if (to === null) {
      owners ??= resultsUrlOwners(text);
      const id = owners?.[i] ?? null;
      if (id !== null) to = (base === null ? '' : base.replace(/\/+$/, '')) + resultsPath(id);
    }
    return to === null ? member : member.slice(0, member.length - value.length) + JSON.stringify(to);
  });
}

/**
 * The id of the object each `results_url` member belongs to, in text order (JSON.parse keeps
 * the order of array elements), or null when the members cannot be matched one to one.
 */
function resultsUrlOwners(text: string): (string | null)[] | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (json === null || typeof json !== 'object') return null;
  const o = json as Record<string, unknown>;
  const list: unknown[] = Array.isArray(o.data) ? o.data : [o];
  const owners: (string | null)[] = [];
  for (const item of list) {
    if (item === null || typeof item !== 'object' || !('results_url' in item)) continue;
    const b = item as Record<string, unknown>;
    owners.push(b.type === 'message_batch' && typeof b.id === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(b.id) ? b.id : null);
  }
  return owners.length === (text.match(RESULTS_URL)?.length ?? 0) ? owners : null;
}

/** Where a results URL should point through the proxy, or null for one that names no batch's results. */
export function proxiedResultsUrl(url: string, base: string | null): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://relative.invalid');
  } catch {
    return null;
  }
  // A relay mounted under a path prefix answers with its own prefix before /v1: what follows is the API's path.
  const at = parsed.pathname.indexOf('/v1/messages/batches/');
  if (at < 0) return null;
  const rest = parsed.pathname.slice(at);
  if (!/^\/v1\/messages\/batches\/[^/]+\/results\/?$/.test(rest)) return null;
  const rel = rest + parsed.search;
  return base === null ? rel : base.replace(/\/+$/, '') + rel;
}

/** The batch objects of a create, retrieve, cancel or list answer (a list's `data`); malformed entries are skipped. */
export function readBatchObjects(json: unknown): BatchFacts[] {
  if (json === null || typeof json !== 'object') return [];
  const o = json as Record<string, unknown>;
  const list = Array.isArray(o.data) ? o.data : [o];
  const out: BatchFacts[] = [];
  for (const item of list) {
    const b = batchFacts(item);
    if (b !== null) out.push(b);
  }
  return out;
}

function batchFacts(item: unknown): BatchFacts | null {
  if (item === null || typeof item !== 'object') return null;
  const o = item as Record<string, unknown>;
  if (o.type !== 'message_batch' || typeof o.id !== 'string' || o.id.length === 0 || o.id.length > 128) return null;
  return {
    id: o.id,
    status: typeof o.processing_status === 'string' ? o.processing_status : null,
    createdAt: time(o.created_at),
    expiresAt: time(o.expires_at),
    endedAt: time(o.ended_at),
  };
}

/** An RFC 3339 time as epoch ms, or null. */
function time(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}
