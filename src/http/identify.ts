import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Who is calling, without ever holding the raw key beyond this function. */
export interface Caller {
  /** First 16 hex chars of sha256(key): stable, short, not reversible. `anon` when no key was sent. */
  keyId: string;
  /** `x-meter-tag`, sanitised; '' when absent. */
  tag: string;
}

const TAG_MAX = 64;

/**
 * A few thousand distinct keys call a proxy, each many times per second: remember their
 * hashes instead of hashing every request. Bounded; the oldest entry goes first.
 */
const HASH_CACHE_MAX = 4096;
const hashCache = new Map<string, string>();

export function hashKey(key: string): string {
  let id = hashCache.get(key);
  if (id === undefined) {
    id = createHash('sha256').update(key).digest('hex').slice(0, 16);
    if (hashCache.size >= HASH_CACHE_MAX) hashCache.delete(hashCache.keys().next().value as string);
    hashCache.set(key, id);
  }
  return id;
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

/** The credential a client presented: x-api-key, else the bearer token. */
export function credential(headers: IncomingHttpHeaders): string | undefined {
  const key = headerValue(headers['x-api-key']);
  if (key) return key;
  const auth = headerValue(headers['authorization']);
  if (auth && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '');
  return undefined;
}

/**
 * Tags become Redis field names and (optionally) metric labels, so they are
 * restricted to a safe alphabet and length instead of trusted as sent.
 */
export function sanitizeTag(raw: string | undefined): string {
  if (!raw) return '';
  const cleaned = raw.trim().replace(/[^A-Za-z0-9._\-/]/g, '_');
  return cleaned.slice(0, TAG_MAX);
}

export function identify(headers: IncomingHttpHeaders): Caller {
  const key = credential(headers);
  return {
    keyId: key ? hashKey(key) : 'anon',
    tag: sanitizeTag(headerValue(headers['x-meter-tag'])),
  };
}
