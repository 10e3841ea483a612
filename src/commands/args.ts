/**
 * The one argv parser of the commands: node:util parseArgs in strict mode over the options a
 * command declares once (name, type, default, one line of description). The same declaration
 * prints the command's `--help` and its usage line, and a bad invocation (an unknown or
 * mistyped flag, a missing value, a stray argument, a value out of its choices) is one
 * UsageError, printed one way: a line naming the flag, then the usage; exit 2.
 */
import { parseArgs } from 'node:util';
import { didYouMean } from '../config/suggest.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** One line for `--help`. */
  readonly description: string;
  /** How the value is shown: FILE, N, TZ (VALUE when absent; the choices when there are some). */
  readonly value?: string;
  readonly choices?: readonly string[];
  readonly default?: string;
  readonly required?: boolean;
}

export interface CommandSpec {
  readonly name: string;
  /** One line: what the command does (the top-level help lists it too). */
  readonly summary: string;
  /** The one bare argument a command may take (check-config's FILE); none when absent. */
  readonly positional?: { readonly name: string; readonly description: string };
  readonly options: Readonly<Record<string, OptionSpec>>;
}

/** The parsed values, typed from the declaration: booleans are always set; strings with a default or required are too. */
export type Values<O> = {
  -readonly [K in keyof O]: O[K] extends { type: 'boolean' }
    ? boolean
    : O[K] extends { default: string } | { required: true }
      ? Text<O[K]>
      : Text<O[K]> | undefined;
};
type Text<O> = O extends { choices: readonly (infer C extends string)[] } ? C : string;

export interface Parsed<S extends CommandSpec> {
  values: Values<S['options']>;
  positional: string | undefined;
}

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** For the commands that read their input from a pipe (key-id). */
  stdin?: NodeJS.ReadableStream;
}

export type Env = Record<string, string | undefined>;

/** A bad invocation: printed as `claude-meter <command>: <message>` with the usage, exit 2. */
export class UsageError extends Error {}

const HELP = { type: 'boolean', short: 'h' } as const;

/** `--config FILE` of the commands that read the deployment's config (config/locate.ts has the precedence). */
export const CONFIG_FILE = {
  type: 'string',
  value: 'FILE',
  description: 'config file; else $CLAUDE_METER_CONFIG, else ./proxy.config.yaml if present, else built-in defaults',
} as const satisfies OptionSpec;

/** argv after the command name → values, or 'help' when `--help` / `-h` was given. Throws UsageError. */
export function parseCommand<S extends CommandSpec>(spec: S, argv: readonly string[]): Parsed<S> | 'help' {
  const options: Record<string, { type: 'string' | 'boolean'; default?: string; short?: string }> = { help: HELP };
  for (const [name, o] of Object.entries(spec.options))
    options[name] = o.default === undefined ? { type: o.type } : { type: o.type, default: o.default };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: spec.positional !== undefined });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw err;
    throw new UsageError(explain(spec, argv) ?? (err as Error).message.split('\n')[0]);
  }
  if (parsed.values['help'] === true) return 'help';
  if (parsed.positionals.length > 1) throw new UsageError(`unexpected argument '${parsed.positionals[1]}'`);
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    const v = parsed.values[name];
    if (o.type === 'boolean') {
      values[name] = v === true;
      continue;
    }
    if (v === '') throw new UsageError(`--${name} needs a value`);
    if (v === undefined && o.required === true) throw new UsageError(`--${name} ${placeholder(o)} is required`);
    if (typeof v === 'string' && o.choices !== undefined && !o.choices.includes(v)) {
      throw new UsageError(`--${name} must be one of ${o.choices.join(', ')} (got '${v}')${didYouMean(v, o.choices)}`);
    }
    values[name] = v;
  }
  return { values: values as Values<S['options']>, positional: parsed.positionals[0] };
}

/**
 * Words the first thing strict parsing refused, from a lenient pass over the same argv
 * (its tokens name the flag; Node's own messages are several lines long).
 */
function explain(spec: CommandSpec, argv: readonly string[]): string | null {
  const declared: Record<string, { type: 'string' | 'boolean' }> = { help: HELP };
  for (const [name, o] of Object.entries(spec.options)) declared[name] = { type: o.type };
  const { tokens } = parseArgs({ args: [...argv], options: declared, strict: false, allowPositionals: true, tokens: true });
  let positionals = 0;
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (spec.positional === undefined || ++positionals > 1) return `unexpected argument '${t.value}'`;
      continue;
    }
    if (t.kind !== 'option') continue;
    const o = Object.hasOwn(declared, t.name) ? declared[t.name] : undefined;
    if (o === undefined) {
      const names = Object.keys(declared).map((n) => `--${n}`);
      return `unknown flag '${t.rawName}'${t.rawName.startsWith('--') ? didYouMean(t.rawName, names) : ''}`;
    }
    if (o.type === 'boolean' && t.value !== undefined) return `${t.rawName} takes no value`;
    if (o.type === 'string' && t.value === undefined) return `${t.rawName} needs a value`;
    if (o.type === 'string' && t.inlineValue === false && t.value?.startsWith('-')) {
      return `${t.rawName} needs a value (got the flag '${t.value}'; a value starting with '-' is written ${t.rawName}=${t.value})`;
    }
  }
  return null;
}

/** Parses argv, prints `--help`, runs `body`; any UsageError is printed with the usage and gives exit 2. */
export async function runCommand<S extends CommandSpec>(
  spec: S,
  argv: readonly string[],
  io: Io,
  body: (args: Parsed<S>) => number | Promise<number>,
): Promise<number> {
  try {
    const args = parseCommand(spec, argv);
    if (args === 'help') {
      io.stdout.write(helpText(spec));
      return 0;
    }
    return await body(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(
      `claude-meter ${spec.name}: ${err.message}\n${usageLine(spec, 'usage: ')}\nrun 'claude-meter ${spec.name} --help' for every flag\n`,
    );
    return 2;
  }
}

function placeholder(o: OptionSpec): string {
  return o.choices?.join('|') ?? o.value ?? 'VALUE';
}

/** `claude-meter report [--window day|week|month] …` after `prefix`, wrapped under its first argument. */
export function usageLine(spec: CommandSpec, prefix = '', width = 100): string {
  const head = `${prefix}claude-meter ${spec.name}`;
  const parts = Object.entries(spec.options).map(([name, o]) => {
    const flag = o.type === 'boolean' ? `--${name}` : `--${name} ${placeholder(o)}`;
    return o.required === true ? flag : `[${flag}]`;
  });
  if (spec.positional !== undefined) parts.unshift(`[${spec.positional.name}]`);
  const lines = [head];
  for (const p of parts) {
    const last = lines.length - 1;
    const line = lines[last] ?? '';
    if (line.length + 1 + p.length > width && line.trim() !== '') lines.push(`${' '.repeat(head.length)} ${p}`);
    else lines[last] = `${line} ${p}`;
  }
  return lines.join('\n');
}

/** `claude-meter <command> --help`: the usage, the summary, and every declared option with its default. */
export function helpText(spec: CommandSpec): string {
  const rows: Array<[string, string]> = [];
  if (spec.positional !== undefined) rows.push([spec.positional.name, spec.positional.description]);
  for (const [name, o] of Object.entries(spec.options)) {
    const notes = [o.required === true ? 'required' : '', o.default === undefined ? '' : `default: ${o.default}`].filter(Boolean);
    rows.push([
      o.type === 'boolean' ? `--${name}` : `--${name} ${placeholder(o)}`,
      `${o.description}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
    ]);
  }
  rows.push(['-h, --help', 'print this help']);
  const w = Math.max(...rows.map(([l]) => l.length));
  return `${usageLine(spec, 'usage: ')}\n\n${spec.summary}\n\n${rows.map(([l, d]) => `  ${l.padEnd(w)}  ${d}`).join('\n')}\n`;
}
