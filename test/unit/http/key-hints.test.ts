/** The partial key hint (what Anthropic shows of a key) and the book that writes it once per key id. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { partialKeyHint } from '../../../src/api/anthropic/key-hint.ts';
import { KeyHintBook } from '../../../src/http/key-hints.ts';
import { hashKey } from '../../../src/http/identify.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import { T0 } from '../../contract/fixtures.ts';

const KEY = `sk-ant-api03-R2D${'x'.repeat(80)}-igAA`;

test('partialKeyHint: the first 16 characters, ..., the last 4, as Anthropic shows them; only for sk-ant- keys', () => {
  assert.equal(partialKeyHint(KEY), 'sk-ant-api03-R2D...igAA');
  assert.equal(partialKeyHint(`sk-proj-${'x'.repeat(60)}`), null, 'an OpenAI key');
  assert.equal(partialKeyHint('sk-ant-short'), null, 'too short: a hint would show most of it');
  assert.equal(partialKeyHint(`sk-ant-api03-R2D${'x'.repeat(40)}ig A`), null, 'a character no key has');
});

test('KeyHintBook: one write per key id whatever the requests; Bearer credentials too; none without a credential', async () => {
  const clock = new ManualClock(T0);
  const store = new MemoryStore({ clock, bucketTtlSeconds: 3600, recordsMaxLen: 10 });
  let writes = 0;
  const counted = {
    saveKeyHint: (id: string, hint: string) => {
      writes += 1;
      return store.saveKeyHint(id, hint);
    },
  };
  const book = new KeyHintBook(counted, clock, silentLogger);
  for (let i = 0; i < 5; i++) book.note(hashKey(KEY), anthropic, { header: 'x-api-key', value: KEY });
  const other = `sk-ant-api03-AbC${'y'.repeat(80)}WXYZ`;
  book.note(hashKey(other), anthropic, { header: 'authorization', value: `Bearer ${other}` });
  book.note('anon', anthropic, null);
  book.note(hashKey('sk-relay-1234567890123456789012345678901234567890'), anthropic, {
    header: 'x-api-key',
    value: 'sk-relay-1234567890123456789012345678901234567890',
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(writes, 2);
  assert.deepEqual(
    await store.keyHints(),
    new Map([
      [hashKey(KEY), 'sk-ant-api03-R2D...igAA'],
      [hashKey(other), 'sk-ant-api03-AbC...WXYZ'],
    ]),
  );
  // No raw key reached the store.
  for (const hint of (await store.keyHints()).values()) assert.ok(hint.length < 24);
});

test('KeyHintBook: a failed write is retried by a later request once a minute has passed, not by every request', async () => {
  const clock = new ManualClock(T0);
  const store = new MemoryStore({ clock, bucketTtlSeconds: 3600, recordsMaxLen: 10 });
  let up = false;
  let calls = 0;
  const book = new KeyHintBook(
    {
      saveKeyHint: (id, hint) => {
        calls += 1;
        return up ? store.saveKeyHint(id, hint) : Promise.reject(new Error('connection refused'));
      },
    },
    clock,
    silentLogger,
  );
  const note = () => book.note(hashKey(KEY), anthropic, { header: 'x-api-key', value: KEY });
  note();
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 10; i++) note();
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 1);
  up = true;
  await clock.advance(59_999);
  note();
  assert.equal(calls, 1, 'still paused');
  await clock.advance(1);
  note();
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2);
  assert.equal((await store.keyHints()).get(hashKey(KEY)), 'sk-ant-api03-R2D...igAA');
});
