import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isScalar, LineCounter, parseDocument, type ParsedNode } from 'yaml';
import type { Config } from './types.ts';
import type { ConfigBody } from './defaults.ts';
import { ConfigError } from './errors.ts';
import { deepFreeze } from './freeze.ts';
import { interpolate, type Env } from './interpolate.ts';
import { nodes, validateConfig } from './schema.ts';
import { scalar } from './walk.ts';

export { describeConfig } from './describe.ts';

export interface LoadOptions {
  /** The config file (e.g. from --config). Empty or null: fall back to env.CLAUDE_METER_CONFIG. */
  file: string | null;
  /** The process environment, read once by main.ts; used for ${VAR} and the overrides below. */
  env: Env;
  /** Injected for tests; defaults to reading UTF-8 from disk. */
  readFile?: (path: string) => string;
}

/**
 * Loads the config, in this order:
 *   1. file: opts.file, else env.CLAUDE_METER_CONFIG, else none (all defaults). A named
 *      file must exist: silently running on defaults after a typo in a path is worse than
 *      refusing to start.
 *   2. parse YAML (errors with line/column, duplicate keys rejected); an empty file is {}.
 *   3. expand ${VAR} in string values (interpolate.ts explains why only after parsing).
 *   4. validate against the schema and fill defaults (schema.ts, walk.ts).
 *   5. environment overrides, which win over the file: PORT, UPSTREAM_URL, REDIS_URL.
 *   6. deep-freeze: the result is shared by every module and must not change under them.
 * Throws ConfigError on any problem, naming the file (or '<env>') and the key path.
 */
export function loadConfig(opts: LoadOptions): Config {
  const given = opts.file || opts.env['CLAUDE_METER_CONFIG'] || null;
  const source = given === null ? null : resolve(given);
  let document: unknown;
  if (source !== null) {
    document = parseYaml(readText(source, opts.readFile ?? ((p) => readFileSync(p, 'utf8'))), source);
  }
  const { value, substituted } = interpolate(document, opts.env, source);
  const body = validateConfig(value, { file: source, substituted });
  if (source !== null && body.pricing.file !== null) {
    // Relative to the config file, not the cwd, so a config works wherever it is started from.
    body.pricing.file = resolve(dirname(source), body.pricing.file);
  }
  applyEnvOverrides(body, opts.env);
  return deepFreeze({ source, ...body });
}

function readText(source: string, read: (path: string) => string): string {
  try {
    return read(source);
  } catch (err) {
    const notFound = err instanceof Error && 'code' in err && err.code === 'ENOENT';
    const reason = notFound ? 'file not found' : `cannot read file: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(source, '(file)', reason, { cause: err });
  }
}

/** YAML text to plain data. Errors and warnings (e.g. an unknown `!tag`) both refuse the file. */
function parseYaml(text: string, source: string): unknown {
  const lines = new LineCounter();
  const duplicates: string[] = [];
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false, // we format: one line, with the position
    // 'error', not 'silent': nothing is printed, but 'silent' would also drop the
    // multiple-documents error, and a second `---` document must not be silently ignored.
    logLevel: 'error',
    strict: true,
    // Keys become JS object keys, i.e. strings, so `1:` and `'1':` collide too; compare as
    // strings and remember the name, since the library's message does not include it.
    uniqueKeys: (a: ParsedNode, b: ParsedNode) => {
      const same = a === b || (isScalar(a) && isScalar(b) && String(a.value) === String(b.value));
      if (same && isScalar(b)) duplicates.push(String(b.value));
      return same;
    },
  });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const { line, col } = lines.linePos(problem.pos[0]);
    const what = problem.code === 'DUPLICATE_KEY' ? `duplicate key '${duplicates[0] ?? '?'}'` : problem.message;
    throw new ConfigError(source, '(yaml)', `${what} at line ${line}, column ${col}`, { cause: problem });
  }
  try {
    // An empty file or one with only comments parses to null: all defaults.
    return doc.toJS({ maxAliasCount: 100 }) ?? undefined;
  } catch (err) {
    // toJS throws on an alias to a missing anchor, or on alias expansion past maxAliasCount
    // (the "billion laughs" guard).
    throw new ConfigError(source, '(yaml)', err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/**
 * The conventional deployment variables, applied after the file so that they win (a PaaS
 * sets PORT; a container sets REDIS_URL). Validated with the same schema nodes as the file,
 * and reported as file '<env>' with the variable's name as the key path.
 */
function applyEnvOverrides(body: ConfigBody, env: Env): void {
  const read = <T>(name: string, node: Parameters<typeof scalar>[0]): T | undefined => {
    const text = env[name];
    if (text === undefined) return undefined;
    const fail = (reason: string): never => {
      throw new ConfigError('<env>', name, reason);
    };
    // The override is typed by the node that checked it (int for PORT, URL for the rest).
    return scalar(node, text, true, fail) as T;
  };
  const port = read<number>('PORT', nodes.port);
  if (port !== undefined) body.listen.port = port;
  const upstream = read<string>('UPSTREAM_URL', nodes.upstreamUrl);
  if (upstream !== undefined) body.upstream.url = upstream;
  // REDIS_URL='' is an explicit "no Redis" (null), even over a file that names one.
  const redis = read<string | null>('REDIS_URL', nodes.redisUrl);
  if (redis !== undefined) body.store.redis.url = redis;
}
