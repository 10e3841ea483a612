/**
 * Recorder + RedisStore against a real redis-server that these tests stop, SIGKILL and
 * restart. The invariant under test: every record handed to record() ends up in Redis
 * exactly once (or is counted as dropped), whatever happens to Redis meanwhile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { systemClock } from '../../src/lib/clock.ts';
import type { Logger } from '../../src/lib/logger.ts';
import type { RecorderOptions, RecorderOutcome } from '../../src/store/recorder-options.ts';
import { Recorder } from '../../src/store/recorder.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { decodeRecord } from '../../src/store/record-codec.ts';
import type { RequestRecord, Totals } from '../../src/store/types.ts';
import { DAY, rec, T0, usage } from '../contract/fixtures.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { connectRedis } from './connect.ts';
import { waitFor } from '../helpers/wait.ts';

/** Logger that keeps messages, so tests can assert "logged once", not "logged per record". */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (_: object, msg?: string) => void lines.push(`${level} ${msg ?? ''}`);
  return { lines, info: keep('info'), warn: keep('warn'), error: keep('error'), debug: () => {} };
}

interface Rig {
  client: Redis;
  store: RedisStore;
  recorder: Recorder;
  logger: ReturnType<typeof memoryLogger>;
  outcomes: Map<RecorderOutcome, number>;
}

async function rig(
  t: { after(fn: () => unknown): void },
  server: RedisServer,
  opts: Partial<RecorderOptions> & { onOutcomeToo?: (outcome: RecorderOutcome, n: number) => void } = {},
): Promise<Rig> {
  const client = await connectRedis(server.url);
  const store = new RedisStore(client, { prefix: 'rec', bucketTtlSeconds: 3600, recordsMaxLen: 100_000, ownsClient: false });
  const logger = memoryLogger();
  const outcomes = new Map<RecorderOutcome, number>();
  const { onOutcomeToo, ...rest } = opts;
  const recorder = new Recorder({
    store,
    logger,
    clock: systemClock, // Redis goes down and comes back in real time
    journalMaxRecords: 10_000,
    retryInitialMs: 20,
    retryMaxMs: 200,
    onOutcome: (outcome, n) => {
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + n);
      onOutcomeToo?.(outcome, n);
    },
    ...rest,
  });
  t.after(async () => {
    await recorder.close();
    await store.close();
    client.disconnect();
  });
  return { client, store, recorder, logger, outcomes };
}

function records(n: number, tag: string): RequestRecord[] {
  return Array.from({ length: n }, (_, i) =>
    rec({ ts: T0 + (i % 1440) * 60_000, tag, usage: usage({ input: i, output: 2 * i + 1 }), costPicoUsd: 1_000_000_007 * (i + 1) }),
  );
}

/** Totals in Redis must equal the exact sums of `expected`, and the record stream hold each id once. */
async function assertStoredExactlyOnce(r: Rig, expected: RequestRecord[]): Promise<void> {
  // Records span 24 h from 10:00 UTC, so two day rows: sum them.
  const rows = await r.store.query({ by: 'all', granularity: 'day', from: T0, to: T0 + DAY });
  const sum = (f: (t: Totals) => number) => rows.reduce((s, row) => s + f(row.totals), 0);
  assert.equal(
    sum((t) => t.requests),
    expected.length,
  );
  assert.equal(
    sum((t) => t.tokens.input),
    expected.reduce((s, x) => s + (x.usage?.input ?? 0), 0),
  );
  assert.equal(
    sum((t) => t.tokens.output),
    expected.reduce((s, x) => s + (x.usage?.output ?? 0), 0),
  );
  const cost = rows.reduce((s, row) => s + row.totals.costPicoUsd, 0n);
  assert.equal(
    cost,
    expected.reduce((s, x) => s + BigInt(x.costPicoUsd), 0n),
  );
  const entries = await r.client.xrange('{rec}:events', '-', '+');
  const ids = entries.map(([, fields]) => decodeRecord(fields)?.id);
  assert.equal(ids.length, expected.length, 'one stream entry per record');
  assert.deepEqual(new Set(ids), new Set(expected.map((x) => x.id)));
}

const settled = (r: Rig) => () => {
  const s = r.recorder.stats();
  return s.pending === 0 && s.journaled === 0;
};

test('records keep flowing while Redis is stopped: journaled, then written exactly once after restart', async (t) => {
  const server = await startRedis({ persist: true, t });
  const r = await rig(t, server);
  const before = records(100, 'before');
  for (const x of before) r.recorder.record(x);
  await r.recorder.flush();
  assert.equal(r.recorder.stats().written, 100);

  await server.stop();
  const during = records(500, 'during');
  const started = performance.now();
  for (const x of during) assert.equal(r.recorder.record(x), undefined);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 250, `500 record() calls took ${elapsed} ms with Redis down`);
  await r.recorder.flush();
  assert.deepEqual({ ...r.recorder.stats(), failures: 0 }, { pending: 0, journaled: 500, dropped: 0, written: 100, failures: 0 });

  await server.restart();
  await waitFor('journal replayed', settled(r));
  assert.equal(r.recorder.stats().written, 600);
  await assertStoredExactlyOnce(r, [...before, ...during]);
  assert.deepEqual(r.logger.lines.filter((l) => l.includes('unreachable')).length, 1, r.logger.lines.join('\n'));
  assert.deepEqual(r.logger.lines.filter((l) => l.includes('reachable again')).length, 1);
});

test('SIGKILL of redis-server in the middle of a 5,000-record replay: every record lands exactly once', async (t) => {
  const N = 5_000;
  // appendfsync always: Redis fsyncs before it replies, so every acknowledged write survives
  // the SIGKILL; unacknowledged ones are journaled again and the dedupe key absorbs the overlap.
  const server = await startRedis({ persist: true, t });
  let replayed = 0;
  let writtenAtKill = -1;
  let killed: Promise<void> | null = null;
  const r: Rig = await rig(t, server, {
    onOutcomeToo: (outcome, n) => {
      // The first replayed batch that reaches a fifth of the records.
      if (outcome !== 'replayed' || replayed >= N / 5 || (replayed += n) < N / 5) return;
      writtenAtKill = r.recorder.stats().written;
      killed = server.kill(); // the signal is sent synchronously, right here mid-replay
    },
  });
  await server.stop();
  const all = records(N, 'replay');
  for (const x of all) r.recorder.record(x);
  await r.recorder.flush();
  assert.equal(r.recorder.stats().journaled, N);
  const failuresBeforeReplay = r.recorder.stats().failures;
  await server.restart();
  await waitFor('the kill mid-replay', () => killed !== null);
  await killed;
  await server.restart();
  await waitFor('journal replayed after the kill', settled(r), 60_000);

  assert.ok(writtenAtKill >= N / 5 && writtenAtKill < N, `killed mid-replay (written ${writtenAtKill})`);
  assert.ok(r.recorder.stats().failures > failuresBeforeReplay, 'writes failed after the kill');
  assert.equal(r.recorder.stats().written, N);
  assert.equal(r.recorder.stats().dropped, 0);
  await assertStoredExactlyOnce(r, all);
});

test('journal overflow drops the oldest records and counts them', async (t) => {
  const server = await startRedis({ t });
  const r = await rig(t, server, { journalMaxRecords: 10 });
  await server.stop();
  const all = records(25, 'overflow');
  for (const x of all) r.recorder.record(x);
  await r.recorder.flush();
  assert.equal(r.recorder.stats().journaled, 10);
  assert.equal(r.recorder.stats().dropped, 15);
  assert.equal(r.outcomes.get('dropped'), 15);
  assert.equal(r.logger.lines.filter((l) => l.includes('dropped')).length, 1, 'one warning per outage');

  await server.restart();
  await waitFor('journal replayed', settled(r));
  await assertStoredExactlyOnce(r, all.slice(15));
});
