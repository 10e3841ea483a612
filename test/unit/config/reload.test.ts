/**
 * The config watcher: reloads are all-or-nothing, restart-only keys keep their values, and
 * file events and SIGHUP are debounced. Tests of the file watch wait (bounded) for real file
 * events on the real clock; the debounce itself is timed on a ManualClock.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigWatcher } from '../../../src/config/reload.ts';
import { loadConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/types.ts';
import type { Logger } from '../../../src/lib/logger.ts';
import { systemClock, type Timers } from '../../../src/lib/clock.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { within } from '../../helpers/wait.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';
interface Entry {
  level: Level;
  obj: Record<string, unknown>;
  msg: string;
}

/** A logger that records, and lets a test wait for a line. */
function recorder() {
  const entries: Entry[] = [];
  const waiters: Array<{ match: (e: Entry) => boolean; resolve: (e: Entry) => void }> = [];
  const log =
    (level: Level) =>
    (obj: object, msg = '') => {
      const e: Entry = { level, obj: obj as Record<string, unknown>, msg };
      entries.push(e);
      for (const w of waiters.filter((x) => x.match(e))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    };
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const next = (match: (e: Entry) => boolean, ms = 5000): Promise<Entry> =>
    within('a log line', new Promise((resolve) => waiters.push({ match, resolve })), ms);
  return { logger, entries, next, at: (level: Level) => entries.filter((e) => e.level === level) };
}

const BASE = 'budgets:\n  - name: team-a\n    limit_usd: 10\n';

/** A temp dir with proxy.config.yaml, a started watcher (20 ms debounce), and a record of onReload calls. */
function setup(t: TestContext, text = BASE, clock: Timers = systemClock) {
  const dir = mkdtempSync(join(tmpdir(), 'cm-reload-'));
  const file = join(dir, 'proxy.config.yaml');
  writeFileSync(file, text);
  const log = recorder();
  const reloads: Array<{ next: Config; prev: Config }> = [];
  let notify: (() => void) | null = null;
  const watcher = new ConfigWatcher({
    file,
    env: {},
    logger: log.logger,
    clock,
    debounceMs: 20,
    onReload: (next, prev) => {
      reloads.push({ next, prev });
      notify?.();
    },
  });
  const initial = loadConfig({ file, env: {} });
  watcher.start(initial);
  t.after(() => {
    watcher.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const reloaded = (ms = 5000): Promise<void> =>
    within(
      'onReload',
      new Promise<void>((resolve) => {
        notify = () => {
          notify = null;
          resolve();
        };
      }),
      ms,
    );
  return { dir, file, watcher, log, reloads, initial, reloaded };
}

test('a valid change is applied: onReload gets the new budgets, and the log names what changed', async (t) => {
  const s = setup(t);
  writeFileSync(s.file, `${BASE}  - name: team-b\n    limit_tokens: 5000\n    window: 24h\nalerts:\n  max_attempts: 2\n`);
  assert.equal(await s.watcher.reloadNow(), true);
  assert.equal(s.reloads.length, 1);
  const [call] = s.reloads;
  assert.equal(call?.prev, s.initial);
  assert.deepEqual(
    call?.next.budgets.map((b) => b.name),
    ['team-a', 'team-b'],
  );
  assert.equal(s.watcher.current, call?.next);
  assert.ok(Object.isFrozen(call?.next));
  const info = s.log.at('info');
  assert.equal(info.length, 1);
  assert.equal(info[0]?.msg, 'config reloaded');
  assert.deepEqual(info[0]?.obj, {
    file: s.file,
    changed: ['budgets', 'alerts'],
    budgets: { added: ['team-b'], removed: [], changed: [] },
  });
});

test('identical content, or a comment-only edit, is not a reload', async (t) => {
  const s = setup(t);
  assert.equal(await s.watcher.reloadNow(), false);
  writeFileSync(s.file, `# a comment\n${BASE}`);
  assert.equal(await s.watcher.reloadNow(), false);
  assert.equal(s.reloads.length, 0);
  assert.equal(s.watcher.current, s.initial);
});

test('invalid YAML is refused: error logged with file and key path, old config kept', async (t) => {
  const s = setup(t);
  writeFileSync(s.file, 'budgets:\n  - name: a\n   limit_usd: 1\n');
  assert.equal(await s.watcher.reloadNow(), false);
  const [err] = s.log.at('error');
  assert.deepEqual(err?.obj, { file: s.file, key: '(yaml)' });
  assert.match(err?.msg ?? '', /^config reload refused: .*proxy\.config\.yaml: config error at \(yaml\): .*; keeping the previous config$/);
  assert.equal(s.reloads.length, 0);
  assert.equal(s.watcher.current, s.initial);
});

test('an unknown key is refused with its exact message, old config kept', async (t) => {
  const s = setup(t);
  writeFileSync(s.file, 'budgets:\n  - name: a\n    limit_usd: 1\n    limt_tokens: 5\n');
  assert.equal(await s.watcher.reloadNow(), false);
  const [err] = s.log.at('error');
  assert.deepEqual(err?.obj, { file: s.file, key: 'budgets[0].limt_tokens' });
  assert.equal(
    err?.msg,
    `config reload refused: ${s.file}: config error at budgets[0].limt_tokens: unknown key 'limt_tokens' (did you mean 'limit_tokens'?); keeping the previous config`,
  );
  assert.equal(s.watcher.current, s.initial);
  // A later good edit is still picked up.
  writeFileSync(s.file, 'budgets:\n  - name: a\n    limit_usd: 1\n');
  assert.equal(await s.watcher.reloadNow(), true);
  assert.deepEqual(
    s.watcher.current.budgets.map((b) => b.name),
    ['a'],
  );
});

test('a deleted file is refused, not treated as "all defaults"', async (t) => {
  const s = setup(t);
  rmSync(s.file);
  assert.equal(await s.watcher.reloadNow(), false);
  assert.equal(
    s.log.at('error')[0]?.msg,
    `config reload refused: ${s.file}: config error at (file): file not found; keeping the previous config`,
  );
  assert.equal(s.watcher.current, s.initial);
});

test('restart-only keys warn, keep their running values, and the rest still applies', async (t) => {
  const s = setup(t);
  writeFileSync(
    s.file,
    `${BASE}listen:\n  port: 9191\nstore:\n  redis:\n    key_prefix: other\nupstream:\n  connections: 4\nlimits:\n  max_sse_event_bytes: 1000\n`,
  );
  assert.equal(await s.watcher.reloadNow(), true);
  assert.deepEqual(
    s.log.at('warn').map((e) => [e.msg, e.obj['key']]),
    [
      ['listen.port changed: takes effect after restart', 'listen.port'],
      ['store.redis.key_prefix changed: takes effect after restart', 'store.redis.key_prefix'],
      ['upstream.connections changed: takes effect after restart', 'upstream.connections'],
    ],
  );
  const next = s.reloads[0]?.next;
  assert.equal(next?.listen.port, s.initial.listen.port);
  assert.equal(next?.store.redis.key_prefix, 'cm');
  assert.equal(next?.upstream.connections, s.initial.upstream.connections);
  assert.equal(next?.limits.max_sse_event_bytes, 1000);
  assert.deepEqual(s.log.at('info')[0]?.obj['changed'], ['limits']);
});

test('the default upstream is restart-only except its billing; the routed upstreams reload whole', async (t) => {
  const s = setup(t);
  const relay = (route: string) => `upstreams:\n  - name: hs\n    url: https://relay.example\n    api: anthropic\n    route: ${route}\n`;
  writeFileSync(
    s.file,
    `${BASE}upstream:\n  url: https://elsewhere.example\n  api_key: sk-new\n  billing:\n    currency: CNY\nexchange_rates:\n  USD_CNY: 7.1\n${relay('/hs')}`,
  );
  assert.equal(await s.watcher.reloadNow(), true);
  assert.deepEqual(
    s.log.at('warn').map((e) => e.obj['key']),
    ['upstream.url', 'upstream.api_key'],
  );
  const next = s.reloads[0]?.next;
  assert.equal(next?.upstream.url, s.initial.upstream.url);
  assert.equal(next?.upstream.api_key, null);
  assert.equal(next?.upstream.billing.currency, 'CNY', 'billing applies without a restart');
  assert.deepEqual(s.log.at('info')[0]?.obj['changed'], ['upstream', 'upstreams', 'exchange_rates']);
  assert.deepEqual(
    next?.upstreams.map((u) => u.route),
    ['/hs'],
  );
});

test('a change to restart-only keys alone warns but reloads nothing', async (t) => {
  const s = setup(t);
  writeFileSync(s.file, `${BASE}listen:\n  host: 0.0.0.0\n`);
  assert.equal(await s.watcher.reloadNow(), false);
  assert.deepEqual(
    s.log.at('warn').map((e) => e.msg),
    ['listen.host changed: takes effect after restart'],
  );
  assert.equal(s.reloads.length, 0);
});

test('a throwing onReload keeps the previous config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, BASE);
  const log = recorder();
  const w = new ConfigWatcher({
    file,
    env: {},
    logger: log.logger,
    clock: systemClock,
    onReload: () => {
      throw new Error('boom');
    },
  });
  const initial = loadConfig({ file, env: {} });
  w.start(initial);
  t.after(() => w.stop());
  writeFileSync(file, 'budgets: []\n');
  assert.equal(await w.reloadNow(), false);
  assert.equal(w.current, initial);
  assert.equal(log.at('error')[0]?.msg, 'config reload failed while applying: boom; keeping the previous config');
});

/** Resolves once a watch of `dir` of its own has seen `name` change: by then a watcher of that directory has heard it too. */
async function fileEvent(dir: string, name: string): Promise<void> {
  const own = watch(dir, { persistent: false });
  try {
    await within(`a file event for ${name}`, new Promise<void>((resolve) => own.on('change', (_e, f) => f === name && resolve())), 5000);
    await new Promise((r) => setImmediate(r)); // the other watches of the directory get the same batch of events
  } finally {
    own.close();
  }
}

test('SIGHUP triggers a reload; stop() removes the listener', async (t) => {
  const before = process.listenerCount('SIGHUP');
  const clock = new ManualClock(0);
  const s = setup(t, BASE, clock);
  assert.equal(process.listenerCount('SIGHUP'), before + 1);
  // Change the file while stopped, so that only the signal can trigger the reload.
  s.watcher.stop();
  assert.equal(process.listenerCount('SIGHUP'), before);
  const heard = fileEvent(s.dir, 'proxy.config.yaml');
  writeFileSync(s.file, 'budgets:\n  - name: from-sighup\n    limit_tokens: 1\n');
  await heard;
  assert.equal(clock.pending, 0, 'a stopped watcher schedules nothing');
  await clock.advance(1_000);
  assert.equal(s.reloads.length, 0);
  s.watcher.start(s.initial);
  assert.equal(process.listenerCount('SIGHUP'), before + 1);
  const done = s.reloaded();
  process.emit('SIGHUP');
  await clock.advance(20);
  await done;
  assert.deepEqual(
    s.reloads[0]?.next.budgets.map((b) => b.name),
    ['from-sighup'],
  );
  s.watcher.stop();
  assert.equal(process.listenerCount('SIGHUP'), before);
  s.watcher.stop(); // idempotent
  assert.equal(process.listenerCount('SIGHUP'), before);
});

test('a file replaced by rename (as editors save) is picked up by the directory watch, debounced', async (t) => {
  const s = setup(t);
  const done = s.reloaded();
  // Editors write a temp file and rename it over the original, in several events.
  const tmp = join(s.dir, '.proxy.config.yaml.swp');
  writeFileSync(tmp, 'budgets:\n  - name: renamed\n    limit_usd: 3\n');
  renameSync(tmp, s.file);
  await done;
  assert.deepEqual(
    s.watcher.current.budgets.map((b) => b.name),
    ['renamed'],
  );
  // Later writes in place are seen too.
  const again = s.reloaded();
  writeFileSync(s.file, 'budgets:\n  - name: rewritten\n    limit_usd: 3\n');
  await again;
  assert.deepEqual(
    s.watcher.current.budgets.map((b) => b.name),
    ['rewritten'],
  );
  // One reload per burst of events (a later event of a burst finds nothing changed).
  assert.equal(s.reloads.length, 2);
});

test('debounce: a reload runs once, debounceMs after the last of a burst of triggers', async (t) => {
  const clock = new ManualClock(0);
  const s = setup(t, BASE, clock);
  // Stopped while the file changes, so that only the signals below trigger anything.
  s.watcher.stop();
  writeFileSync(s.file, 'budgets:\n  - name: burst\n    limit_usd: 1\n');
  s.watcher.start(s.initial);
  const attempts = () => s.log.entries.filter((e) => e.msg.startsWith('config reload')).length;
  for (let i = 0; i < 3; i++) {
    process.emit('SIGHUP');
    await clock.advance(15);
  }
  assert.equal(attempts(), 0, 'each trigger within 20 ms of the last postpones the reload');
  await clock.advance(4);
  assert.equal(attempts(), 0, 'not before 20 ms of quiet');
  await clock.advance(1);
  assert.equal(attempts(), 1);
  assert.deepEqual(
    s.reloads.map((r) => r.next.budgets.map((b) => b.name)),
    [['burst']],
  );
  await clock.advance(1_000);
  assert.equal(attempts(), 1, 'one burst, one reload');
  assert.equal(clock.pending, 0);
});

test('an invalid file written while watching logs the error and keeps the config', async (t) => {
  const s = setup(t);
  const logged = s.log.next((e) => e.level === 'error');
  writeFileSync(s.file, 'budgets:\n  - name: a\n    window: fortnight\n    limit_usd: 1\n');
  const err = await logged;
  assert.deepEqual(err.obj, { file: s.file, key: 'budgets[0].window' });
  assert.equal(s.watcher.current, s.initial);
  assert.equal(s.reloads.length, 0);
});

test('start twice is a mistake; reloadNow before start rejects', async () => {
  const log = recorder();
  const w = new ConfigWatcher({ file: '/nonexistent/c.yaml', env: {}, logger: log.logger, clock: systemClock, onReload: () => {} });
  await assert.rejects(() => w.reloadNow(), /start\(\) has not been called/);
  const c = loadConfig({ file: null, env: {} });
  w.start(c); // the directory does not exist: a warning, SIGHUP still works
  assert.match(log.at('warn')[0]?.msg ?? '', /^cannot watch the config file \(.*ENOENT.*\); SIGHUP still reloads it$/);
  try {
    assert.throws(() => w.start(c), /already started/);
  } finally {
    w.stop();
  }
});
