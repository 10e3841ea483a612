/** `claude-meter key-id`: the hash the proxy identifies a key by, from stdin, a file or an argument. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { runKeyIdCommand } from '../../../src/commands/key-id.ts';
import { hashKey } from '../../../src/http/identify.ts';

const KEY = 'sk-ant-api03-example-key-AAAAAAAAAAAAAAAAAAAA';
const OTHER = 'sk-ant-api03-example-key-BBBBBBBBBBBBBBBBBBBB';
/** The id computed independently: the first 16 hex characters of sha256. */
const idOf = (k: string): string => createHash('sha256').update(k).digest('hex').slice(0, 16);

async function run(argv: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runKeyIdCommand(argv, { stdout, stderr, ...(stdin === undefined ? {} : { stdin: Readable.from([stdin]) }) });
  return { code, out, err };
}

test('a key on stdin: its id, the same hash the proxy computes', async () => {
  assert.equal(hashKey(KEY), idOf(KEY));
  assert.deepEqual(await run([], `${KEY}\n`), { code: 0, out: `${idOf(KEY)}\n`, err: '' });
});

test('several keys, one per line, blank lines and surrounding spaces ignored; from stdin or a file', async () => {
  const text = `  ${KEY}\r\n\n${OTHER}  \n`;
  const want = `${idOf(KEY)}\n${idOf(OTHER)}\n`;
  assert.equal((await run([], text)).out, want);
  const file = join(mkdtempSync(join(tmpdir(), 'key-id-')), 'keys.txt');
  writeFileSync(file, text);
  assert.deepEqual(await run(['--file', file]), { code: 0, out: want, err: '' });
});

test('a key as the argument', async () => {
  assert.deepEqual(await run([KEY]), { code: 0, out: `${idOf(KEY)}\n`, err: '' });
});

test('no key: exit 1 saying how to give one; a missing file or both sources: exit 2', async () => {
  const none = await run([], '\n');
  assert.equal(none.code, 1);
  assert.match(none.err, /no key given/);
  assert.equal((await run([])).code, 1, 'no stdin at all');
  const absent = join(mkdtempSync(join(tmpdir(), 'key-id-')), 'absent.txt');
  const missing = await run(['--file', absent]);
  assert.equal(missing.code, 2);
  assert.ok(missing.err.startsWith(`claude-meter key-id: cannot read --file ${absent}: ENOENT\n`), missing.err);
  assert.equal((await run([KEY, '--file', 'x'])).code, 2);
});
