import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Caller } from '../core/request.ts';

const TAG_MAX = 64;

/**
 * 16 hex chars of sha256(key). Hashed on every request rather than cached, because a cache
 * would be a long-lived map of raw keys; the one-shot crypto.hash takes about 1.5 µs.
 */
export function hashKey(key: string): string {
  return hash('sha256', key, 'hex').slice(0, 16);
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

/** Who is calling; the raw key is hashed here and held nowhere. */
export function identify(headers: IncomingHttpHeaders): Caller {
  const key = credential(headers);
  return {
    keyId: key ? hashKey(key) : 'anon',
    tag: sanitizeTag(headerValue(headers['x-meter-tag'])),
  };
}
