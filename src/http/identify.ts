import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Dialect } from '../core/dialect.ts';
import { conflictingCredentials, unknownClientKey, type ProxyError } from '../core/errors.ts';
import type { Caller, Credential } from '../core/request.ts';
import { connectionListed, headerAlias } from '../upstream/headers.ts';

const TAG_MAX = 64;

/** The identity of a caller who sent no credential. */
export const ANON = 'anon';
/** The identity of a caller whose credential nobody checks (see Access). */
export const UNVERIFIED = 'unverified';

/**
 * 16 hex chars of sha256(key). Hashed on every request rather than cached, because a cache
 * would be a long-lived map of raw keys; the one-shot crypto.hash takes about 1.5 µs.
 * `claude-meter key-id` prints the same hash for upstream.client_key_ids.
 */
export function hashKey(key: string): string {
  return hash('sha256', key, 'hex').slice(0, 16);
}

/** Who checks a client's key. */
export interface Access {
  /**
   * The proxy sends its own key upstream (upstream.api_key): the upstream checks nobody, so a
   * client key is an identity only when it is listed in `accepted`.
   */
  readonly injected: boolean;
  /** Accepted client key ids (upstream.client_key_ids); null: no list, every client is served. */
  readonly accepted: ReadonlySet<string> | null;
}

export type Identification =
  | { readonly ok: true; readonly caller: Caller; readonly credential: Credential | null }
  | { readonly ok: false; readonly error: ProxyError };

/** What identification reads of a request: the parsed headers and the raw lines (repeats are not merged there). */
export interface Presented {
  headers: IncomingHttpHeaders;
  rawHeaders: readonly string[];
}

/**
 * Identity is the credential the upstream receives. The credential headers the dialect names
 * (and their aliases with `_` for `-`) are read from the raw header lines, less those the client's Connection header names (they
 * are not forwarded, so they cannot name the caller). Every value found (a repeated header,
 * or a comma-separated list, counts as several) must carry the same secret, or the request
 * is refused: an upstream may read any one of them. The one credential forwarded is the
 * first by the dialect's preference, so the proxy meters exactly the key the upstream reads.
 */
export function identify(req: Presented, dialect: Dialect, access: Access): Identification {
  const names = dialect.credentialHeaders;
  const raw = req.rawHeaders;
  let listed: Set<string> | null | undefined;
  let chosen: Credential | null = null;
  let rank = names.length;
  let secret: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const rawName = raw[i] as string;
    const at = credentialIndex(names, rawName);
    if (at === -1) continue;
    const name = names[at] as string;
    if (listed === undefined) listed = connectionListed(req.headers['connection']);
    if (listed?.has(name) || listed?.has(rawName.toLowerCase())) continue;
    for (const part of (raw[i + 1] as string).split(',')) {
      const value = part.trim();
      if (value === '') continue;
      const s = dialect.credentialSecret(name, value);
      if (secret !== null && s !== secret) return { ok: false, error: conflictingCredentials() };
      secret = s;
      if (at < rank) {
        rank = at;
        chosen = { header: name, value };
      }
    }
  }
  const tag = sanitizeTag(headerValue(req.headers['x-meter-tag']));
  const keyId = secret === null ? null : hashKey(secret);
  if (access.accepted !== null && (keyId === null || !access.accepted.has(keyId))) return { ok: false, error: unknownClientKey() };
  if (!access.injected) return { ok: true, caller: { keyId: keyId ?? ANON, tag }, credential: chosen };
  // The proxy's own key goes upstream: a listed key is checked; an unlisted one was checked by nobody.
  const verified = keyId === null ? ANON : access.accepted === null ? UNVERIFIED : keyId;
  return { ok: true, caller: { keyId: verified, tag }, credential: null };
}

/**
 * The index of a raw header name among the credential names, or -1; lower-cases only names of a
 * matching length. An alias (`x_api_key`, upstream/headers.ts headerAlias) is the credential it names.
 */
function credentialIndex(names: readonly string[], rawName: string): number {
  for (let k = 0; k < names.length; k++) {
    const n = names[k] as string;
    if (n.length === rawName.length && (rawName === n || headerAlias(rawName.toLowerCase()) === n)) return k;
  }
  return -1;
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
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
