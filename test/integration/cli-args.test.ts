/**
 * The installed command's flags: for every command, an unknown flag, a mistyped flag and a
 * missing value are refused with exit 2 and one line naming the flag, then the usage; `--help`
 * lists every declared flag. A mistyped flag never starts the proxy on its defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { COMMANDS } from '../../src/main.ts';
import { helpText, usageLine } from '../../src/commands/args.ts';

const BIN = resolve('bin/claude-meter.js');

/** Runs the command to its exit; `deadlineMs`: kill it and fail if it is still running then. */
async function runBin(args: string[], deadlineMs = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, CLAUDE_METER_CONFIG: '', REDIS_URL: '', PORT: '0', CLAUDE_METER_LOG_FORMAT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(signal, null, `claude-meter ${args.join(' ')} was still running after ${deadlineMs} ms; stdout: ${out}`);
  return { code, out, err };
}

/** A typo of a real flag of each command (with the flag it should suggest), and an invocation missing a value. */
const CASES: Record<string, { typo: string[]; meant: string; missing: string[]; reason: string }> = {
  start: { typo: ['--confg', 'x.yaml'], meant: '--config', missing: ['--config'], reason: '--config needs a value' },
  'check-config': { typo: ['--confi', 'x.yaml'], meant: '--config', missing: ['--config'], reason: '--config needs a value' },
  report: { typo: ['--windw', 'day'], meant: '--window', missing: ['--json', '--by'], reason: '--by needs a value' },
  forecast: {
    typo: ['--jsn'],
    meant: '--json',
    missing: ['--config', '--json'],
    reason: "--config needs a value (got the flag '--json'; a value starting with '-' is written --config=--json)",
  },
  backtest: { typo: ['--serise', 'x.csv'], meant: '--series', missing: ['--series'], reason: '--series needs a value' },
  simulate: {
    typo: ['--series', 'x.csv', '--svgg', 'x.svg'],
    meant: '--svg',
    missing: ['--series', 'x.csv', '--config', 'c.yaml', '--svg'],
    reason: '--svg needs a value',
  },
  reconcile: { typo: ['--from', '2026-12-01', '--jsno'], meant: '--json', missing: ['--from'], reason: '--from needs a value' },
  'key-id': { typo: ['--fle', 'keys.txt'], meant: '--file', missing: ['--file'], reason: '--file needs a value' },
};

test('every command has a case here', () => {
  assert.deepEqual(COMMANDS.map((c) => c.spec.name).sort(), Object.keys(CASES).sort());
});

/** Exit 2, nothing on stdout, and on stderr: the reason, the usage, the hint. */
function assertRefused(name: string, r: { code: number | null; out: string; err: string }, reason: string): void {
  const spec = COMMANDS.find((c) => c.spec.name === name)?.spec;
  assert.ok(spec);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  assert.equal(r.err, `claude-meter ${name}: ${reason}\n${usageLine(spec, 'usage: ')}\nrun 'claude-meter ${name} --help' for every flag\n`);
}

for (const { spec } of COMMANDS) {
  const c = CASES[spec.name];
  test(`${spec.name}: an unknown flag, a mistyped flag and a missing value exit 2 naming the flag; --help lists every flag`, async () => {
    assert.ok(c, `no case for ${spec.name}`);
    const [bogus, typo, missing, help] = await Promise.all([
      runBin([spec.name, '--bogus-flag']),
      runBin([spec.name, ...c.typo]),
      runBin([spec.name, ...c.missing]),
      runBin([spec.name, '--help']),
    ]);
    assertRefused(spec.name, bogus, "unknown flag '--bogus-flag'");
    const wrong = c.typo.find((a) => a.startsWith('--') && !(a.slice(2) in spec.options));
    assertRefused(spec.name, typo, `unknown flag '${wrong}' (did you mean '${c.meant}'?)`);
    assertRefused(spec.name, missing, c.reason);

    assert.equal(help.code, 0, help.err);
    assert.equal(help.err, '');
    assert.equal(help.out, helpText(spec));
    for (const [name, o] of Object.entries(spec.options)) {
      assert.match(help.out, new RegExp(`^  --${name}\\b.*  ${o.description.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'), name);
    }
  });
}

test('start --prot 9000 does not start the proxy on its defaults: exit 2 within seconds, naming --prot', async () => {
  for (const args of [
    ['start', '--prot', '9000', '--bogus-flag'],
    ['--prot', '9000'],
  ]) {
    const r = await runBin(args, 5_000);
    assertRefused('start', r, "unknown flag '--prot'");
  }
});

test('top-level --help lists every command with its usage; help COMMAND is COMMAND --help; an unknown command exits 2', async () => {
  const [top, one, unknown, version] = await Promise.all([
    runBin(['--help']),
    runBin(['help', 'report']),
    runBin(['strat']),
    runBin(['--version']),
  ]);
  assert.equal(top.code, 0);
  for (const { spec } of COMMANDS) {
    assert.ok(top.out.includes(`${usageLine(spec, '  ')}\n      ${spec.summary}\n`), spec.name);
  }
  assert.match(top.out, /claude-meter <command> --help/);
  assert.equal(one.code, 0);
  assert.equal(one.out, helpText(COMMANDS.find((c) => c.spec.name === 'report')!.spec));
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^unknown command 'strat'\n/);
  assert.equal(version.code, 0);
  assert.match(version.out, /^\d+\.\d+\.\d+/);
});
