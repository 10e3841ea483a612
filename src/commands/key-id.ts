/**
 * `claude-meter key-id [KEY] [--file FILE]`: prints the key id of each key, one per line: the
 * hash the proxy identifies callers by (http/identify.ts), as logs, reports and
 * upstream.client_key_ids name them. Keys are read from FILE, else the argument, else stdin,
 * one per line; the argument shows up in shell history and `ps`, so stdin or a file is better.
 */
import { readFileSync } from 'node:fs';
import { hashKey } from '../http/identify.ts';
import { runCommand, UsageError, type CommandSpec, type Io } from './args.ts';

export const KEY_ID = {
  name: 'key-id',
  summary: 'print the key id of an API key (read from stdin, FILE or KEY), as upstream.client_key_ids lists it',
  positional: { name: 'KEY', description: 'the key (visible in shell history: prefer stdin or --file)' },
  options: {
    file: { type: 'string', value: 'FILE', description: 'read the keys from FILE, one per line' },
  },
} as const satisfies CommandSpec;

export function runKeyIdCommand(argv: readonly string[], io: Io): Promise<number> {
  return runCommand(KEY_ID, argv, io, async ({ values, positional }) => {
    if (values.file !== undefined && positional !== undefined) throw new UsageError('give KEY or --file FILE, not both');
    let text: string;
    if (values.file !== undefined) text = readKeys(values.file);
    else if (positional !== undefined) text = positional;
    else if (io.stdin !== undefined) text = await readAll(io.stdin);
    else text = '';
    // Header values reach the proxy trimmed, so keys are hashed trimmed too.
    const keys = text
      .split(/\r?\n/)
      .map((k) => k.trim())
      .filter((k) => k !== '');
    if (keys.length === 0) {
      io.stderr.write('claude-meter key-id: no key given (pipe one in, or give --file FILE or KEY)\n');
      return 1;
    }
    io.stdout.write(keys.map((k) => `${hashKey(k)}\n`).join(''));
    return 0;
  });
}

function readKeys(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}
