import { ConfigError, joinIndex, joinKey } from './errors.ts';

/**
 * `${VAR}` / `${VAR:-default}` expansion in config values, from an injected env map (never
 * process.env: main.ts reads the environment once and passes it down).
 *
 * Why after YAML parsing, and on string scalars only: expanding the raw text first (as
 * envsubst does) would let a variable's value become YAML syntax. `KEY="x\nadmin: true"`
 * or `KEY="{a: 1}"` could add keys or turn a scalar into a mapping, and a value with a
 * `#` or `: ` would silently truncate or break the document. Here the document's shape is
 * fixed before any variable is read, and a variable can only ever produce the text of the
 * one string it sits in. Mapping keys are never expanded, for the same reason.
 *
 * Grammar, inside any string value:
 *   ${NAME}           the variable's value; unset is an error naming NAME and the key path
 *   ${NAME:-default}  the default when NAME is unset OR empty (as in POSIX sh and Compose),
 *                     so `${REDIS_URL:-}` reads "no Redis" whether unset or set to ''
 *   $${               a literal `${` (no expansion)
 * NAME is [A-Za-z_][A-Za-z0-9_]*. Any other `${...}` (including nesting, `${A:-${B}}`) is
 * an error rather than a guess. A `$` not followed by `{` is literal.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export type Expansion = { ok: true; text: string; substituted: boolean } | { ok: false; reason: string };

export interface Interpolated {
  value: unknown;
  /**
   * Key paths of strings that held at least one `${...}`. The schema walker may read those
   * as the number or boolean the key expects (`port: ${PORT:-8080}`); a literal string is
   * never coerced, so `port: "8080"` stays a type error.
   */
  substituted: ReadonlySet<string>;
}

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/** Expands one string. Pure; reports problems as a reason instead of throwing. */
export function expand(text: string, env: Env): Expansion {
  let out = '';
  let substituted = false;
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) break;
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
    } else if (text.startsWith('${', dollar)) {
      const close = text.indexOf('}', dollar + 2);
      if (close === -1) return { ok: false, reason: `unterminated '\${' in ${quote(text)}` };
      const body = text.slice(dollar + 2, close);
      const m = REFERENCE.exec(body);
      const name = m?.[1];
      if (m === null || name === undefined || (m[2] ?? '').includes('${')) {
        return { ok: false, reason: `invalid reference '\${${body}}' (expected \${NAME} or \${NAME:-default})` };
      }
      const fallback = m[2];
      const set = env[name];
      if (fallback !== undefined && (set === undefined || set === '')) out += fallback;
      else if (set !== undefined) out += set;
      else return { ok: false, reason: `environment variable ${name} is not set (use \${${name}:-default} to make it optional)` };
      substituted = true;
      i = close + 1;
    } else {
      out += '$';
      i = dollar + 1;
    }
  }
  return { ok: true, text: out + text.slice(i), substituted };
}

/**
 * Returns a copy of a parsed YAML tree with every string value expanded. Throws ConfigError
 * (naming `file` and the key path) on a bad or unset reference, and on a cyclic tree, which
 * a self-referencing YAML alias (`a: &x [*x]`) produces.
 */
export function interpolate(value: unknown, env: Env, file: string | null): Interpolated {
  const substituted = new Set<string>();
  const ancestors = new Set<object>();

  const visit = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      const r = expand(v, env);
      if (!r.ok) throw new ConfigError(file, path, r.reason);
      if (r.substituted) substituted.add(path);
      return r.text;
    }
    if (typeof v !== 'object' || v === null) return v;
    if (ancestors.has(v)) throw new ConfigError(file, path, 'recursive YAML alias');
    ancestors.add(v);
    // Object.fromEntries defines own properties, so a `__proto__` key stays a plain key.
    const copy = Array.isArray(v)
      ? v.map((item: unknown, i) => visit(item, joinIndex(path, i)))
      : Object.fromEntries(Object.entries(v).map(([k, item]) => [k, visit(item, joinKey(path, k))]));
    ancestors.delete(v);
    return copy;
  };

  return { value: visit(value, ''), substituted };
}

function quote(text: string): string {
  return `'${text.length > 60 ? `${text.slice(0, 57)}...` : text}'`;
}
