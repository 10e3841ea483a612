/**
 * Tests wait for events, not for time. Timing logic (waits, backoff, polls, debounces, loops)
 * takes an injected clock, and its tests move a ManualClock. Only the files named below may
 * wait in real time: sleep, arm a real timer, or poll with waitFor from test/helpers/wait.ts,
 * each for the reason given. A new file that does fails here, and so does a name that no
 * longer needs its place. The mock upstreams (test/helpers/mock-*.ts) pace their answers freely.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const REAL_TIME: Readonly<Record<string, string>> = {
  'test/helpers/wait.ts': 'the bounded poll and the bound the files below use',
  'test/helpers/redis-server.ts': 'waits for redis-server processes to start, stop and form a cluster',
  'test/helpers/prometheus.ts': 'waits for a Prometheus process to answer',
  'test/integration/cli-args.test.ts': 'a deadline that kills a spawned command which wrongly starts serving',
  'test/integration/docs-commands.test.ts': 'a deadline per documented command, and polling a served command until it answers',
  'test/stack/prometheus.test.ts': 'a real Prometheus scrapes on its own interval',
  'test/faults/proxy-sigkill-during-redis-outage.test.ts':
    "waits for a child proxy's /metrics to show its records written, then journaled, across a real Redis kill",
  'test/faults/redis-killed-under-traffic.test.ts':
    'records journaled and settles queued across a real Redis kill and restart: waits for the replays to land',
  'test/integration/budget.test.ts': 'waits until a request queues in a real proxy before releasing the one it waits for',
  'test/integration/forwarding.test.ts':
    'backpressure and the connection pool over real sockets: a stall and a queued request take real time',
  'test/integration/forwarding-failures.test.ts': "waits for the record of a stream cut by undici's real body timeout",
  'test/integration/sdk-messages.test.ts': 'the record is made after the client has read the gzipped body: waits for it',
  'test/redis/budget-admission.test.ts': 'stops a real Redis once requests wait in real proxies',
  'test/redis/budget-store-down.test.ts': 'settles queued and retried across a real Redis stop and restart',
  'test/faults/redis-unreachable-at-start.test.ts': 'waits for a Redis started after the proxy to receive the replayed journal',
  'test/redis/proxy-redis.test.ts': 'records journaled and replayed across a real Redis restart',
  'test/redis/recorder.test.ts': 'the recorder against a real Redis that is stopped, killed and restarted',
  'test/redis/redis-store.test.ts': 'Redis expires keys on its own clock, and reconnects after a restart',
  'test/integration/workers.test.ts': 'a worker’s leased spend reaches Redis with its next sync: waits for it',
  'test/redis/settle-feed.test.ts': 'pub/sub delivery to another connection: waits to hear the settles it makes',
};

/** A real sleep, a real timer, or a poll; method calls such as clock.setTimeout( are on an injected clock. */
const WAITS = [/(?<![.\w])setTimeout\(/, /(?<![.\w])setInterval\(/, /(?<![.\w])sleep\(/, /timers\/promises/, /(?<![.\w])waitFor\(/];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [relative(ROOT, p).split(sep).join('/')] : [];
  });
}

const waits = (file: string): boolean => {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return WAITS.some((w) => w.test(text));
};

test('outside the mock upstreams and the named real-time files, no test waits in real time', () => {
  const files = tsFiles(join(ROOT, 'test')).filter((f) => !/^test\/helpers\/mock-[^/]*\.ts$/.test(f));
  assert.ok(files.includes('test/unit/budget/waiting.test.ts'), 'the walk reaches the tests');
  const unnamed = files.filter((f) => waits(f) && !(f in REAL_TIME));
  assert.deepEqual(unnamed, [], 'wait for an event, or move time on a ManualClock; or name the file in REAL_TIME with its reason');
});

test('every named real-time file still waits in real time', () => {
  const stale = Object.keys(REAL_TIME).filter((f) => !waits(f));
  assert.deepEqual(stale, [], 'no longer waits: take it off the list');
});

test('the scan sees a sleep, a timer and a poll, and not a call on a ManualClock', () => {
  const hit = (src: string) => WAITS.some((w) => w.test(src));
  // Built from pieces, so that this file does not match itself.
  const call = (name: string, args: string) => `${name}${'('}${args})`;
  assert.ok(hit(`await new Promise((r) => ${call('setTimeout', 'r, 50')});`));
  assert.ok(hit(`await ${call('sleep', '50')};`));
  assert.ok(hit(`import { setTimeout as pause } from 'node:timers${'/'}promises';`));
  assert.ok(hit(`await ${call('waitFor', "'done', () => done")};`));
  assert.ok(hit(`const keepAlive = ${call('setInterval', '() => {}, 1_000')};`));
  assert.ok(!hit(`clock.${call('setTimeout', 'resolve, 5')};`));
  assert.ok(!hit(`await page.locator('#login').${call('waitFor', "{ state: 'visible' }")};`));
});
