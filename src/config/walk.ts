import { ConfigError, joinIndex, joinKey } from './errors.ts';
import { didYouMean } from './suggest.ts';

/**
 * A small declarative schema and the walker that applies it: type checks, bounds, unknown
 * keys rejected with their exact path, and defaults filled in. No dependency: the config is
 * small, and owning the walker lets every message say exactly what an operator must change.
 */

/** What a cross-field check reports: where, and why. `keyPath` is absolute. */
export interface Issue {
  keyPath: string;
  reason: string;
}

/** `nullable`: the key may be null; an empty string also means null, so `${VAR:-}` can say "unset". */
interface Scalar {
  readonly nullable?: boolean;
}
export interface StringNode extends Scalar {
  readonly kind: 'string';
  readonly nonEmpty?: boolean;
}
export interface UrlNode extends Scalar {
  readonly kind: 'url';
  /** Accepted schemes, with the colon, as `URL.protocol` spells them: ['http:', 'https:']. */
  readonly protocols: readonly string[];
}
export interface IntNode extends Scalar {
  readonly kind: 'int';
  readonly min?: number;
  readonly max?: number;
}
export interface NumberNode extends Scalar {
  readonly kind: 'number';
  readonly min?: number;
  readonly max?: number;
  /** `min` is exclusive: `{ min: 0, minExclusive: true }` reads "must be > 0". */
  readonly minExclusive?: boolean;
}
export interface BoolNode extends Scalar {
  readonly kind: 'bool';
}
export interface EnumNode<V extends string = string> extends Scalar {
  readonly kind: 'enum';
  readonly values: readonly V[];
}
/** Anything at all, passed through unchecked; for sections another module validates. */
export interface AnyNode {
  readonly kind: 'any';
}
export interface ObjectNode {
  readonly kind: 'object';
  readonly keys: Readonly<Record<string, Node>>;
  /** Runs after every key is valid and filled; for rules that span keys. */
  check?(value: unknown, path: string): Issue | undefined;
}
export interface MapNode {
  readonly kind: 'map';
  readonly values: Node;
}
export interface ListNode {
  readonly kind: 'list';
  readonly items: Node;
  /** A lone scalar stands for a one-item list (`model: claude-x` = `model: [claude-x]`); checked at the key itself. */
  readonly oneOrMany?: boolean;
  /** Defaults for each item (for a list of objects); an item key absent here is required. */
  readonly itemDefaults?: unknown;
  check?(value: readonly unknown[], path: string): Issue | undefined;
}
export type Node = StringNode | UrlNode | IntNode | NumberNode | BoolNode | EnumNode | AnyNode | ObjectNode | MapNode | ListNode;

/**
 * The node type a TypeScript type must be described by. Declaring a schema as
 * `SchemaOf<ConfigBody>` makes tsc reject a schema that misses a key, has an extra one, or
 * uses the wrong kind or nullability for it, so the schema cannot drift from types.ts.
 */
export type SchemaOf<T> = [T] extends [readonly (infer I)[]]
  ? ListOf<I>
  : [T] extends [object]
    ? string extends keyof T
      ? MapNode
      : ObjectOf<T>
    : null extends T
      ? ScalarOf<NonNullable<T>> & { readonly nullable: true }
      : ScalarOf<T> & { readonly nullable?: false };
type ScalarOf<T> = [T] extends [boolean]
  ? BoolNode
  : [T] extends [number]
    ? IntNode | NumberNode
    : [T] extends [string]
      ? string extends T
        ? StringNode | UrlNode
        : EnumNode<T>
      : never;
export interface ObjectOf<T> extends ObjectNode {
  readonly keys: { readonly [K in keyof T]-?: SchemaOf<T[K]> };
  check?(value: T, path: string): Issue | undefined;
}
export interface ListOf<I> extends ListNode {
  readonly items: SchemaOf<I>;
  readonly itemDefaults?: Partial<I>;
  check?(value: readonly I[], path: string): Issue | undefined;
}

export interface WalkContext {
  /** Named in every error. */
  file: string | null;
  /** Key paths whose string came from `${...}` expansion (interpolate.ts) and may be coerced. */
  substituted: ReadonlySet<string>;
}

/**
 * Validates `input` against `node` and returns a fresh value with defaults filled in.
 * `fallback` is the default at this position; undefined means the key is required.
 * A null or absent mapping/list means "all defaults", so a section whose keys are all
 * commented out (`upstream:` followed by nothing) is valid.
 */
export function walk(node: Node, input: unknown, fallback: unknown, path: string, ctx: WalkContext): unknown {
  const fail = (reason: string): never => {
    throw new ConfigError(ctx.file, path, reason);
  };
  const container = node.kind === 'object' || node.kind === 'map' || node.kind === 'list';
  if (input === undefined || (input === null && container)) {
    if (fallback === undefined) return fail('missing required key');
    // An object is walked as {} so each key takes its own default and required keys
    // (those without one, e.g. in a list item) are still reported.
    if (node.kind !== 'object') return structuredClone(fallback);
    input = {};
  }
  switch (node.kind) {
    case 'object': {
      if (!isMapping(input)) return fail(`expected a mapping, got ${show(input)}`);
      const known = Object.keys(node.keys);
      for (const key of Object.keys(input)) {
        if (!Object.hasOwn(node.keys, key)) {
          throw new ConfigError(ctx.file, joinKey(path, key), `unknown key '${key}'${didYouMean(key, known)}`);
        }
      }
      const defaults = isMapping(fallback) ? fallback : {};
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node.keys)) {
        out[key] = walk(child, input[key], defaults[key], joinKey(path, key), ctx);
      }
      return report(node.check?.(out, path), ctx, out);
    }
    case 'map': {
      if (!isMapping(input)) return fail(`expected a mapping, got ${show(input)}`);
      const entries = Object.entries(input).map(([k, v]) => [k, walk(node.values, v, undefined, joinKey(path, k), ctx)]);
      return Object.fromEntries(entries);
    }
    case 'list': {
      let out: unknown[];
      if (Array.isArray(input)) {
        out = input.map((item: unknown, i) => walk(node.items, item, node.itemDefaults, joinIndex(path, i), ctx));
      } else if (node.oneOrMany === true && !isMapping(input)) {
        out = [walk(node.items, input, node.itemDefaults, path, ctx)];
      } else {
        return fail(`expected a list${node.oneOrMany === true ? ' or a single value' : ''}, got ${show(input)}`);
      }
      return report(node.check?.(out, path), ctx, out);
    }
    case 'any':
      return structuredClone(input);
    default:
      return scalar(node, input, ctx.substituted.has(path), fail);
  }
}

type ScalarKind = Exclude<Node, ObjectNode | MapNode | ListNode | AnyNode>;

/** The `:password@` part of `scheme://user:password@host`, even when the scheme is mistyped. */
const USERINFO_PASSWORD = /^([^@]*\/\/[^:@/]*:)[^@/]*@/;

/** Checks one scalar. `fromEnv`: the string came from `${...}`, so read it as the kind expects. */
export function scalar(node: ScalarKind, input: unknown, fromEnv: boolean, fail: (reason: string) => never): unknown {
  if (node.nullable === true && (input === null || input === '')) return null;
  const value = fromEnv && typeof input === 'string' ? fromText(node, input) : input;
  switch (node.kind) {
    case 'string':
      if (typeof value !== 'string') return fail(`expected a string, got ${show(value)}`);
      if (node.nonEmpty === true && value === '') return fail('must not be empty');
      return value;
    case 'url': {
      const url = typeof value === 'string' && URL.canParse(value) ? new URL(value) : null;
      if (url === null || !node.protocols.includes(url.protocol)) {
        // The rejected value may hold a password (`redis//:pw@host`): keep it out of the message.
        const shown = typeof value === 'string' ? value.replace(USERINFO_PASSWORD, '$1***@') : value;
        return fail(`expected a URL with scheme ${node.protocols.join(' or ')}, got ${show(shown)}`);
      }
      return value;
    }
    case 'enum':
      if (typeof value === 'string' && node.values.includes(value)) return value;
      return fail(`must be one of ${node.values.map((v) => `'${v}'`).join(', ')}, got ${show(value)}${didYouMean(value, node.values)}`);
    case 'bool':
      if (typeof value !== 'boolean') return fail(`expected a boolean (true or false), got ${show(value)}`);
      return value;
    case 'int':
    case 'number': {
      const isInt = node.kind === 'int';
      if (typeof value !== 'number' || !Number.isFinite(value) || (isInt && !Number.isSafeInteger(value))) {
        return fail(`expected ${isInt ? 'an integer' : 'a number'}, got ${show(value)}`);
      }
      const exclusive = node.kind === 'number' && node.minExclusive === true;
      const { min, max } = node;
      const below = min !== undefined && (exclusive ? value <= min : value < min);
      const above = max !== undefined && value > max;
      if (!below && !above) return value;
      if (min !== undefined && max !== undefined) {
        return fail(exclusive ? `must be > ${min} and <= ${max}, got ${value}` : `must be between ${min} and ${max}, got ${value}`);
      }
      return fail(below ? `must be ${exclusive ? '>' : '>='} ${min}, got ${value}` : `must be <= ${max}, got ${value}`);
    }
  }
}

/** Reads expanded text as the kind expects; unparseable text is left as-is so the check names it. */
function fromText(node: ScalarKind, text: string): unknown {
  const t = text.trim();
  if (node.kind === 'bool') return t === 'true' ? true : t === 'false' ? false : text;
  if (node.kind === 'int') return /^[-+]?\d+$/.test(t) ? Number(t) : text;
  if (node.kind === 'number') return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : text;
  return text;
}

function report<T>(issue: Issue | undefined, ctx: WalkContext, value: T): T {
  if (issue !== undefined) throw new ConfigError(ctx.file, issue.keyPath, issue.reason);
  return value;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, safe description of a wrong value for a message. */
export function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
  return `${typeof v} ${String(v)}`;
}
