/** The process logger's own info lines must be the lines pino would write, in call order. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { chooseLogFormat, createProcessLogger, prettyLines } from '../../../src/lib/process-logger.ts';

function tempFile(t: { after(fn: () => void): void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cm-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

const flushed = (p: { flush(cb: () => void): void }) => new Promise<void>((resolve) => p.flush(resolve));
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('info lines are the lines pino writes for the same call, apart from the clock', async (t) => {
  const ours = tempFile(t, 'ours.log');
  const theirs = tempFile(t, 'pino.log');
  const p = createProcessLogger('info', ours);
  const dest = pino.destination({ dest: theirs, sync: true });
  const reference = pino({ level: 'info', base: { service: 'claude-meter' } }, dest);
  const calls: Array<[object, string | undefined]> = [
    [{ id: 'r1', status: 200, usage: { input: 3, output: null }, tag: undefined, cost_usd: 0.000123, quote: 'say "hi"\n' }, 'request'],
    [{}, 'budget store reachable again'],
    [{ n: 1 }, undefined],
  ];
  for (const [obj, msg] of calls) {
    p.logger.info(obj, msg);
    reference.info(obj, msg);
  }
  await flushed(p);
  const strip = (l: Record<string, unknown>) => ({ ...l, time: 0 });
  assert.deepEqual(lines(ours).map(strip), lines(theirs).map(strip));
  // Same key order too: the raw text matches once the time is masked.
  const mask = (s: string) => s.replace(/"time":\d+/g, '"time":0');
  assert.equal(mask(readFileSync(ours, 'utf8')), mask(readFileSync(theirs, 'utf8')));
});

test('what JSON.stringify cannot take goes through pino; warn and error keep their place after buffered info lines', async (t) => {
  const file = tempFile(t, 'mixed.log');
  const p = createProcessLogger('info', file);
  p.logger.info({ seq: 1 }, 'first');
  p.logger.warn({ err: new Error('boom') }, 'second');
  p.logger.info({ big: 10n ** 20n }, 'third');
  p.logger.info({ err: new Error('as info') }, 'fourth');
  p.logger.error({ seq: 5 }, 'fifth');
  p.logger.debug({ seq: 6 }, 'below the level');
  await flushed(p);
  const got = lines(file);
  assert.deepEqual(
    got.map((l) => l['msg']),
    ['first', 'second', 'third', 'fourth', 'fifth'],
  );
  assert.match(String((got[1]?.['err'] as { stack?: string })?.stack), /boom/);
  assert.match(readFileSync(file, 'utf8'), /"big":100000000000000000000,/, 'pino writes the bigint exactly');
  assert.match(String((got[3]?.['err'] as { stack?: string })?.stack), /as info/);
});

test('a level above info writes no info lines', async (t) => {
  const file = tempFile(t, 'warn.log');
  const p = createProcessLogger('warn', file);
  p.logger.info({ id: 'x' }, 'request');
  p.logger.warn({ id: 'y' }, 'kept');
  await flushed(p);
  assert.deepEqual(
    lines(file).map((l) => l['msg']),
    ['kept'],
  );
});

test('an uncaught exception still writes the buffered lines on the way out', (t) => {
  const file = tempFile(t, 'crash.log');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/logger-crash.ts', file], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /boom/);
  assert.deepEqual(
    lines(file).map((l) => l['msg']),
    ['before the crash', 'still buffered'],
  );
});

test('log format: CLAUDE_METER_LOG_FORMAT wins, else pretty exactly on a terminal', () => {
  assert.equal(chooseLogFormat(undefined, true), 'pretty');
  assert.equal(chooseLogFormat(undefined, false), 'json');
  assert.equal(chooseLogFormat(undefined, undefined), 'json', 'a pipe or file has no isTTY');
  assert.equal(chooseLogFormat('', true), 'pretty');
  assert.equal(chooseLogFormat('json', true), 'json');
  assert.equal(chooseLogFormat('pretty', false), 'pretty');
  assert.throws(() => chooseLogFormat('text', true), /CLAUDE_METER_LOG_FORMAT must be json or pretty, got 'text'/);
});

test('the pretty formatter: one readable line per JSON line, coloured only for a terminal', () => {
  const line = '{"level":30,"time":1764547200000,"service":"claude-meter","id":"r1","status":200,"msg":"request"}\n';
  const plain = prettyLines(false)(line + line.replace('r1', 'r2'));
  const rows = plain.trimEnd().split('\n');
  assert.equal(rows.length, 2);
  assert.match(rows[0]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: request \{"id":"r1","status":200\}$/);
  assert.ok(!plain.includes('\u001b['), 'no escape codes off a terminal');
  assert.ok(!plain.includes('claude-meter'), 'the constant service field is left out');
  assert.match(prettyLines(true)(line), /\u001b\[\d+m/, 'colours on a terminal');
});

test("pretty mode keeps the order of buffered info lines and pino's own lines", async (t) => {
  const file = tempFile(t, 'pretty.log');
  const p = createProcessLogger('info', file, 'pretty');
  p.logger.info({ seq: 1 }, 'first');
  p.logger.warn({ err: new Error('boom') }, 'second');
  p.logger.info({ seq: 3 }, 'third');
  p.logger.error({ seq: 4 }, 'fourth');
  await flushed(p);
  const text = readFileSync(file, 'utf8');
  const order = ['INFO: first', 'WARN: second', 'INFO: third', 'ERROR: fourth'].map((s) => text.indexOf(s));
  assert.ok(
    order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)),
    text,
  );
  assert.match(text, /boom/);
  assert.ok(!text.includes('"level"'), 'no JSON lines');
});

test('pretty mode: an uncaught exception still writes the buffered lines', (t) => {
  const file = tempFile(t, 'crash-pretty.log');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/logger-crash.ts', file, 'pretty'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(readFileSync(file, 'utf8'), /INFO: before the crash.*\n.*INFO: still buffered/);
});
