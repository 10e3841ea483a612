/** The commands' one argv parser (src/commands/args.ts): what it accepts, what it refuses and how it says so. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { helpText, parseCommand, runCommand, UsageError, usageLine, type CommandSpec } from '../../../src/commands/args.ts';

const SPEC = {
  name: 'demo',
  summary: 'a command to test the parser with',
  positional: { name: 'FILE', description: 'a file' },
  options: {
    series: { type: 'string', value: 'FILE', required: true, description: 'the input' },
    window: { type: 'string', choices: ['day', 'week'], default: 'day', description: 'the window' },
    model: { type: 'string', value: 'NAME', description: 'a model' },
    json: { type: 'boolean', description: 'print JSON' },
  },
} as const satisfies CommandSpec;

const NO_POSITIONAL = {
  name: 'bare',
  summary: 'no positional',
  options: { json: { type: 'boolean', description: 'print JSON' } },
} as const satisfies CommandSpec;

function refusal(spec: CommandSpec, argv: string[]): string {
  try {
    parseCommand(spec, argv);
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err));
    return err.message;
  }
  assert.fail(`accepted: ${argv.join(' ')}`);
}

test('values: declared defaults, booleans false when absent, a string option undefined when absent; the last repeat wins', () => {
  assert.deepEqual(parseCommand(SPEC, ['--series', 's.csv']), {
    values: { series: 's.csv', window: 'day', model: undefined, json: false },
    positional: undefined,
  });
  assert.deepEqual(parseCommand(SPEC, ['f.yaml', '--series=s.csv', '--window', 'week', '--model', 'm', '--json']), {
    values: { series: 's.csv', window: 'week', model: 'm', json: true },
    positional: 'f.yaml',
  });
  assert.deepEqual(parseCommand(SPEC, ['--series', 'a', '--series', 'b']), {
    values: { series: 'b', window: 'day', model: undefined, json: false },
    positional: undefined,
  });
  // A value that starts with '-' is written inline; after '--' everything is a positional.
  assert.equal((parseCommand(SPEC, ['--series', 'a', '--model=-1']) as { values: { model: string } }).values.model, '-1');
  assert.equal((parseCommand(SPEC, ['--series', 'a', '--', '--json']) as { positional: string }).positional, '--json');
});

test('--help and -h win over everything valid, and over a missing required flag', () => {
  assert.equal(parseCommand(SPEC, ['--help']), 'help');
  assert.equal(parseCommand(SPEC, ['-h', '--json']), 'help');
  assert.equal(parseCommand(NO_POSITIONAL, ['--json', '--help']), 'help');
});

test('refusals name the flag, in one line', () => {
  const cases: Array<[CommandSpec, string[], string]> = [
    [SPEC, ['--series', 'a', '--bogus-flag'], "unknown flag '--bogus-flag'"],
    [SPEC, ['--series', 'a', '--windw', 'day'], "unknown flag '--windw' (did you mean '--window'?)"],
    [SPEC, ['--seires', 'a'], "unknown flag '--seires' (did you mean '--series'?)"],
    [SPEC, ['--series', 'a', '-x'], "unknown flag '-x'"],
    [SPEC, ['--series'], '--series needs a value'],
    [SPEC, ['--series', 'a', '--model'], '--model needs a value'],
    [SPEC, ['--series', '--json'], "--series needs a value (got the flag '--json'; a value starting with '-' is written --series=--json)"],
    [SPEC, ['--series='], '--series needs a value'],
    [SPEC, ['--series', 'a', '--json=yes'], '--json takes no value'],
    [SPEC, ['--series', 'a', 'one', 'two'], "unexpected argument 'two'"],
    [NO_POSITIONAL, ['extra'], "unexpected argument 'extra'"],
    [NO_POSITIONAL, ['--', '--json'], "unexpected argument '--json'"],
    [SPEC, ['--series', 'a', '--window', 'year'], "--window must be one of day, week (got 'year')"],
    [SPEC, ['--series', 'a', '--window', 'weeks'], "--window must be one of day, week (got 'weeks') (did you mean 'week'?)"],
    [SPEC, ['--json'], '--series FILE is required'],
    [SPEC, [], '--series FILE is required'],
  ];
  for (const [spec, argv, message] of cases) assert.equal(refusal(spec, argv), message, argv.join(' '));
});

test('the first offence is the one named', () => {
  assert.equal(refusal(SPEC, ['--prot', '9000', '--bogus-flag']), "unknown flag '--prot'");
  assert.equal(refusal(SPEC, ['--json=1', '--prot']), '--json takes no value');
});

test('usageLine: required flags bare, optional ones in brackets, choices spelt out, wrapped under the first argument', () => {
  assert.equal(usageLine(SPEC), 'claude-meter demo [FILE] --series FILE [--window day|week] [--model NAME] [--json]');
  assert.equal(usageLine(NO_POSITIONAL, 'usage: '), 'usage: claude-meter bare [--json]');
  assert.equal(
    usageLine(SPEC, '  ', 50),
    [
      '  claude-meter demo [FILE] --series FILE',
      '                    [--window day|week]',
      '                    [--model NAME] [--json]',
    ].join('\n'),
  );
});

test('helpText: usage, summary, every declared flag with its description, default and whether it is required', () => {
  assert.equal(
    helpText(SPEC),
    [
      'usage: claude-meter demo [FILE] --series FILE [--window day|week] [--model NAME] [--json]',
      '',
      'a command to test the parser with',
      '',
      '  FILE               a file',
      '  --series FILE      the input (required)',
      '  --window day|week  the window (default: day)',
      '  --model NAME       a model',
      '  --json             print JSON',
      '  -h, --help         print this help',
      '',
    ].join('\n'),
  );
});

function io() {
  const streams = { stdout: new PassThrough(), stderr: new PassThrough() };
  const text = { stdout: '', stderr: '' };
  streams.stdout.on('data', (c: Buffer) => (text.stdout += c.toString()));
  streams.stderr.on('data', (c: Buffer) => (text.stderr += c.toString()));
  return { streams, text };
}

test('runCommand: --help prints the help and exits 0 without running the command', async () => {
  const { streams, text } = io();
  let ran = false;
  assert.equal(await runCommand(SPEC, ['--help'], streams, () => ((ran = true), 0)), 0);
  assert.equal(ran, false);
  assert.equal(text.stdout, helpText(SPEC));
  assert.equal(text.stderr, '');
});

test('runCommand: a refusal or a UsageError from the command prints one line, the usage and the --help hint; exit 2', async () => {
  const bad = io();
  assert.equal(await runCommand(NO_POSITIONAL, ['--jsn'], bad.streams, () => 0), 2);
  assert.equal(bad.text.stdout, '');
  assert.equal(
    bad.text.stderr,
    "claude-meter bare: unknown flag '--jsn' (did you mean '--json'?)\nusage: claude-meter bare [--json]\nrun 'claude-meter bare --help' for every flag\n",
  );

  const thrown = io();
  const code = await runCommand(SPEC, ['--series', 'x'], thrown.streams, async ({ values }) => {
    throw new UsageError(`cannot read --series ${values.series}`);
  });
  assert.equal(code, 2);
  assert.ok(
    thrown.text.stderr.startsWith('claude-meter demo: cannot read --series x\nusage: claude-meter demo [FILE] --series FILE'),
    thrown.text.stderr,
  );

  const ok = io();
  assert.equal(await runCommand(SPEC, ['--series', 'x', '--json'], ok.streams, ({ values }) => (values.json ? 7 : 0)), 7);
  await assert.rejects(
    runCommand(SPEC, ['--series', 'x'], ok.streams, () => Promise.reject(new RangeError('not a usage error'))),
    RangeError,
  );
});
