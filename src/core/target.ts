/**
 * The request target, parsed once: the one path that routing, metering, budgets, the record
 * and forwarding all use, so no spelling of a path can be metered as one route and served by
 * the upstream as another.
 *
 * - origin form (`/v1/messages?x`) and absolute form (`http://host/v1/messages?x`, RFC 9112
 *   §3.2.2): only the path and query are kept; the authority is ignored, never forwarded;
 * - asterisk form (`*`): the caller answers it (OPTIONS *), it names no resource upstream;
 * - anything else (authority form `host:443`, a bare word) is refused.
 *
 * The path is normalized as RFC 3986 §6.2.2 says: escapes of unreserved characters decoded
 * (`%6d` → `m`, `%2E` → `.`), other escapes' hex upper-cased, raw characters a URI may not
 * hold escaped, then dot segments removed (§5.2.4), after the decoding. Two choices beyond the
 * RFC: empty segments (`//`) are collapsed, since servers disagree on them and a base URL
 * ending in `/` makes them by accident; and what servers read in more than one way is refused:
 * an escaped delimiter (`%2F`, `%5C`, `%3F`, `%23`, `%3B`, `%25`) or control character, a raw
 * backslash, `;` (matrix parameters, stripped by some servers), a fragment, an invalid escape,
 * and escapes that are not valid UTF-8 (overlong forms such as `%C0%AF` included).
 *
 * The query is kept byte for byte for forwarding, and never stored: it may hold a credential.
 */

export type Target =
  | { readonly kind: 'path'; readonly path: string; readonly query: string }
  | { readonly kind: 'asterisk' }
  | { readonly kind: 'refused'; readonly reason: string };

/** A parsed path: `path` starts with `/`; `query` is '' or starts with `?`. */
export type PathTarget = Extract<Target, { kind: 'path' }>;

const ASTERISK: Target = Object.freeze({ kind: 'asterisk' });

/** Characters that appear as themselves in a canonical path: unreserved, sub-delims except `;`, `:`, `@`, `/`. */
const PLAIN = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/") PLAIN[c.charCodeAt(0)] = 1;

const UNRESERVED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;

/** Escaped bytes that servers decode and then read as structure: refused, with the reason. */
const AMBIGUOUS_ESCAPE: Readonly<Record<number, string>> = {
  47: 'an encoded slash (%2F)',
  92: 'an encoded backslash (%5C)',
  63: 'an encoded question mark (%3F)',
  35: 'an encoded number sign (%23)',
  59: 'an encoded semicolon (%3B)',
  37: 'an encoded percent sign (%25)',
};

/** Raw characters refused in the path, with the reason; `#` anywhere. */
const AMBIGUOUS_RAW: Readonly<Record<number, string>> = {
  92: 'a backslash',
  59: 'a semicolon (matrix parameters)',
  35: 'a fragment (#)',
};

const HEX = '0123456789ABCDEF';
const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a request target (`req.url`). Pure; the common `/v1/messages` allocates only the result. */
export function parseTarget(raw: string): Target {
  if (raw.charCodeAt(0) === SLASH) return originForm(raw);
  if (raw === '*') return ASTERISK;
  const scheme = /^https?:\/\//i.exec(raw);
  if (scheme !== null) return absoluteForm(raw, scheme[0].length);
  return refused('the request target must be a path (origin form) or an absolute http URL');
}

/** The path and query of an absolute-form target; the authority ends at the first `/`, `?` or `#`. */
function absoluteForm(raw: string, authorityStart: number): Target {
  let i = authorityStart;
  while (i < raw.length) {
    const c = raw.charCodeAt(i);
    if (c === SLASH || c === QUESTION || c === HASH) break;
    i++;
  }
  const rest = raw.slice(i);
  return originForm(rest.charCodeAt(0) === SLASH ? rest : `/${rest}`);
}

function originForm(raw: string): Target {
  const q = raw.indexOf('?');
  const end = q === -1 ? raw.length : q;
  if (q !== -1 && raw.indexOf('#', q) !== -1) return refused(`${AMBIGUOUS_RAW[HASH]} in the request target`);
  if (isCanonical(raw, end)) return { kind: 'path', path: q === -1 ? raw : raw.slice(0, q), query: q === -1 ? '' : raw.slice(q) };
  const path = normalize(raw.slice(0, end));
  if (typeof path !== 'string') return path;
  return { kind: 'path', path, query: q === -1 ? '' : raw.slice(q) };
}

/** The fast path: only plain characters, no `.` (which may start a dot segment), no `//`. */
function isCanonical(raw: string, end: number): boolean {
  let prev = 0;
  for (let i = 0; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 128 || PLAIN[c] === 0 || c === DOT || (c === SLASH && prev === SLASH)) return false;
    prev = c;
  }
  return true;
}

/** The slow path: decode, escape, refuse, then remove dot segments and collapse empty ones. */
function normalize(path: string): string | Target {
  let out = '';
  let i = 0;
  while (i < path.length) {
    const c = path.charCodeAt(i);
    if (c !== PERCENT) {
      const reason = AMBIGUOUS_RAW[c];
      if (reason !== undefined) return refused(`${reason} in the path`);
      if (c < 0x21 || c >= 0x7f) return refused('a control or non-ASCII character in the path');
      out += PLAIN[c] === 1 ? path[i] : percentEncode(c);
      i++;
      continue;
    }
    const b = hexByte(path, i);
    if (b < 0) return refused('an invalid percent-encoding in the path');
    if (b >= 0x80) {
      // Escaped non-ASCII stays escaped (RFC 3986), but only as valid UTF-8: an overlong
      // form such as %C0%AF is read as '/' by some decoders.
      const end = highRun(path, i);
      if (end < 0) return refused('percent-encoded bytes that are not valid UTF-8 in the path');
      out += path.slice(i, end).toUpperCase();
      i = end;
      continue;
    }
    const reason = AMBIGUOUS_ESCAPE[b];
    if (reason !== undefined) return refused(`${reason} in the path`);
    if (b < 0x20 || b === 0x7f) return refused('an encoded control character in the path');
    out += UNRESERVED[b] === 1 ? String.fromCharCode(b) : percentEncode(b);
    i += 3;
  }
  return removeDotSegments(out);
}

function percentEncode(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

/** The end of the run of escaped non-ASCII bytes starting at `i`, or -1 when the run is not valid UTF-8. */
function highRun(path: string, i: number): number {
  let end = i;
  while (end < path.length && path.charCodeAt(end) === PERCENT && hexByte(path, end) >= 0x80) end += 3;
  const bytes = new Uint8Array((end - i) / 3);
  for (let k = 0; k < bytes.length; k++) bytes[k] = hexByte(path, i + k * 3);
  try {
    utf8.decode(bytes);
  } catch {
    return -1;
  }
  return end;
}

/** The byte of the escape at `i` (`%` then two hex digits), or -1. */
function hexByte(path: string, i: number): number {
  if (i + 2 >= path.length) return -1;
  const hi = hexDigit(path.charCodeAt(i + 1));
  const lo = hexDigit(path.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 3986 §5.2.4 on a path starting with `/`, with empty segments collapsed (a trailing `/` kept). */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  let trailing = false;
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    const last = i === segments.length - 1;
    trailing = last && (s === '' || s === '.' || s === '..');
    if (s === '..') out.pop();
    else if (s !== '.' && s !== '') out.push(s);
  }
  const joined = `/${out.join('/')}`;
  return trailing && out.length > 0 ? `${joined}/` : joined;
}

function refused(reason: string): Target {
  return { kind: 'refused', reason };
}
