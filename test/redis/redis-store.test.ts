/**
 * RedisStore against real redis-server processes started here (never the shared
 * :6379): the shared contract on a single node and on a 3-master cluster, then the
 * properties only Redis has (script atomicity, key layout, failing fast when down).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/client.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { DIMENSIONS } from '../../src/store/keys.ts';
import type { RequestRecord } from '../../src/store/types.ts';
import { DAY, HOUR, MIN, prng, rec, T0, usage } from '../contract/fixtures.ts';
import { ManualClock } from '../../src/lib/manual-clock.ts';
import { runMeterStoreContract, type ContractStoreOptions } from '../contract/meter-store.contract.ts';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { connectCluster, connectRedis } from './connect.ts';
import { waitFor } from '../helpers/wait.ts';

const server = await startRedis();
const cluster = await startRedisCluster();
after(() => Promise.all([server.close(), cluster.stop()]));

let prefixes = 0;
/** A fresh prefix per store keeps tests independent on one server. */
const freshPrefix = (): string => `t${process.pid}-${++prefixes}`;

function harness(connect: () => Promise<RedisClient>) {
  return async (opts: ContractStoreOptions) => {
    const clock = new ManualClock(T0);
    const store = new RedisStore(await connect(), { prefix: freshPrefix(), ...opts });
    return {
      store,
      clock,
      // Redis expires keys on its own clock: real time has to pass.
      elapse: async (ms: number) => {
        await clock.advance(ms);
        await sleep(ms);
      },
      cleanup: () => store.close(),
    };
  };
}

runMeterStoreContract(
  'RedisStore (single node)',
  harness(() => connectRedis(server.url)),
);
runMeterStoreContract(
  'RedisStore (3-master cluster)',
  harness(() => connectCluster(cluster.nodes)),
);

/** Writes with at most `concurrency` writes in flight. */
async function writeConcurrently(store: RedisStore, records: RequestRecord[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < records.length) {
      const r = records[next++];
      if (r !== undefined) await store.write(r);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function randomRecords(n: number, seed: number): RequestRecord[] {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  return Array.from({ length: n }, () =>
    rec({
      ts: T0 + Math.floor(random() * 3 * HOUR),
      model: pick(['claude-opus-4-1', 'claude-haiku-4-5', null]),
      keyId: pick(['kA', 'kB', 'kC']),
      tag: pick(['', 'ci', 'x|y']),
      status: pick([200, 200, 200, 429, 500]),
      usage: usage({ input: Math.floor(random() * 5_000), output: Math.floor(random() * 2_000), cacheRead: 7 }),
      costPicoUsd: Math.floor(random() * 2 ** 52),
    }),
  );
}

describe('RedisStore on a real redis-server', () => {
  test('the write script is atomic: 2,000 records, each written twice by two clients at concurrency 50, sum exactly', async (t) => {
    const prefix = freshPrefix();
    const a = new RedisStore(await connectRedis(server.url), { prefix, bucketTtlSeconds: 3600, recordsMaxLen: 10_000 });
    const b = new RedisStore(await connectRedis(server.url), { prefix, bucketTtlSeconds: 3600, recordsMaxLen: 10_000 });
    t.after(() => Promise.all([a.close(), b.close()]));
    const records = randomRecords(2_000, 7);
    await Promise.all([writeConcurrently(a, records, 50), writeConcurrently(b, [...records].reverse(), 50)]);

    const expectCost = records.reduce((s, r) => s + BigInt(r.costPicoUsd), 0n);
    const expectInput = records.reduce((s, r) => s + (r.usage?.input ?? 0), 0);
    const expectErrors = records.filter((r) => r.status >= 400).length;
    for (const by of ['all', 'model', 'key', 'tag'] as const) {
      const rows = await a.query({ by, granularity: 'day', from: T0, to: T0 + DAY });
      const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((s, r) => s + f(r), 0);
      assert.equal(
        sum((r) => r.totals.requests),
        2_000,
        by,
      );
      assert.equal(
        sum((r) => r.totals.errors),
        expectErrors,
        by,
      );
      assert.equal(
        sum((r) => r.totals.tokens.input),
        expectInput,
        by,
      );
      assert.equal(
        rows.reduce((s, r) => s + r.totals.costPicoUsd, 0n),
        expectCost,
        by,
      );
    }
    const probe = await connectRedis(server.url);
    t.after(() => probe.quit());
    assert.equal(await probe.xlen(`{${prefix}}:events`), 2_000, 'one stream entry per record, none duplicated');
  });

  test('a batch counts a record repeated inside it once (exact path, past 2^53); an invalid record refuses the whole batch', async (t) => {
    const prefix = freshPrefix();
    const store = new RedisStore(await connectRedis(server.url), { prefix, bucketTtlSeconds: 3600, recordsMaxLen: 100 });
    t.after(() => store.close());
    // Same minute and dimensions: the script sums their increments into one field, past 2^53.
    const twice = rec({ id: 'same', ts: T0, costPicoUsd: 2 ** 52 });
    const sameField = rec({ id: 'other', ts: T0 + 1_000, costPicoUsd: 2 ** 52 + 1 });
    const nextHour = rec({ id: 'later', ts: T0 + HOUR, costPicoUsd: 5 });
    await store.writeBatch([twice, sameField, { ...twice }, nextHour, twice]);
    await assert.rejects(store.writeBatch([rec({ id: 'fine', ts: T0, costPicoUsd: 1 }), rec({ id: 'bad', costPicoUsd: -1 })]), RangeError);
    const rows = await store.query({ by: 'all', granularity: 'minute', from: T0, to: T0 + DAY });
    assert.deepEqual(
      rows.map((r) => [r.start, r.totals.requests, r.totals.costPicoUsd]),
      [
        [T0, 2, 2n ** 53n + 1n],
        [T0 + HOUR, 1, 5n],
      ],
    );
    assert.equal((await store.recent(10)).length, 3);
  });

  test('a batch of new records is summed before Redis: one HINCRBY per distinct field, exact past 2^53', async (t) => {
    const prefix = freshPrefix();
    const client = await connectRedis(server.url);
    const store = new RedisStore(client, { prefix, bucketTtlSeconds: 3600, recordsMaxLen: 100 });
    t.after(() => store.close());
    const probe = await connectRedis(server.url);
    t.after(() => probe.quit());
    await probe.config('RESETSTAT');
    // 40 new records, one minute, one caller and model: every record adds to the same fields.
    const records = Array.from({ length: 40 }, (_, i) => rec({ id: `sum-${i}`, ts: T0 + i * 1000, costPicoUsd: 2 ** 50 + i }));
    await store.writeBatch(records);
    const stats = await probe.info('commandstats');
    const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    assert.equal(calls('evalsha') + calls('eval'), 1, 'one script call for the batch');
    const fields = (await Promise.all(DIMENSIONS.map((d) => probe.hlen(`{${prefix}}:agg:${d}:${Math.floor(T0 / 1000)}`)))).reduce(
      (a, b) => a + b,
      0,
    );
    assert.equal(calls('hincrby'), fields, 'one HINCRBY per field, not per record');
    assert.deepEqual(
      [calls('smismember'), calls('sadd'), calls('sismember'), calls('xadd')],
      [1, 1, 0, 40],
      'the dedupe set is checked and written once per batch',
    );
    const [row] = await store.query({ by: 'all', granularity: 'minute', from: T0, to: T0 + DAY });
    const exact = records.reduce((s, r) => s + BigInt(r.costPicoUsd), 0n);
    assert.ok(exact > 2n ** 53n);
    assert.deepEqual([row?.totals.requests, row?.totals.costPicoUsd], [40, exact]);
  });

  test('a batch holding a record written by an earlier batch (a replay) counts only the new ones', async (t) => {
    const prefix = freshPrefix();
    const store = new RedisStore(await connectRedis(server.url), { prefix, bucketTtlSeconds: 3600, recordsMaxLen: 100 });
    t.after(() => store.close());
    const first = rec({ id: 'replayed', ts: T0, costPicoUsd: 7 });
    await store.write(first);
    await store.writeBatch([{ ...first }, rec({ id: 'new-1', ts: T0, costPicoUsd: 11 }), rec({ id: 'new-2', ts: T0, costPicoUsd: 13 })]);
    const [row] = await store.query({ by: 'all', granularity: 'minute', from: T0, to: T0 + DAY });
    assert.deepEqual([row?.totals.requests, row?.totals.costPicoUsd], [3, 31n]);
    assert.deepEqual((await store.recent(10)).map((r) => r.id).sort(), ['new-1', 'new-2', 'replayed']);
  });

  test('Redis before 6.2 (no SMISMEMBER): the dedupe check falls back to SISMEMBER per id, replays still count once', async (t) => {
    // rename-command hides SMISMEMBER as an older server lacks it.
    const old = await startRedis({ args: ['--rename-command', 'SMISMEMBER', ''] });
    t.after(() => old.close());
    const client = await connectRedis(old.url);
    const store = new RedisStore(client, { prefix: freshPrefix(), bucketTtlSeconds: 3600, recordsMaxLen: 100 });
    t.after(() => store.close());
    const first = rec({ id: 'o-1', ts: T0, costPicoUsd: 7 });
    await store.writeBatch([first, rec({ id: 'o-2', ts: T0, costPicoUsd: 11 })]);
    await store.writeBatch([{ ...first }, rec({ id: 'o-3', ts: T0 + MIN, costPicoUsd: 13 })]);
    const stats = await client.info('commandstats');
    assert.match(stats, /cmdstat_sismember:calls=[1-9]/);
    const rows = await store.query({ by: 'all', granularity: 'hour', from: T0, to: T0 + DAY });
    assert.deepEqual(
      rows.map((r) => [r.totals.requests, r.totals.costPicoUsd]),
      [[3, 31n]],
    );
  });

  test('key layout: hour hashes with TTL, a per-minute dedupe set of record ids with TTL, fields minute|metric|value', async (t) => {
    const client = await connectRedis(server.url);
    const prefix = freshPrefix();
    const store = new RedisStore(client, { prefix, bucketTtlSeconds: 600, recordsMaxLen: 10, dedupeTtlSeconds: 300 });
    t.after(() => store.close());
    await store.write(rec({ id: 'r1', ts: T0 + 61_000, tag: 'a|b', costPicoUsd: 9 }));
    const keys = (await client.keys(`{${prefix}}:*`)).sort();
    const hour = T0 / 1000;
    assert.deepEqual(keys, [
      `{${prefix}}:agg:all:${hour}`,
      `{${prefix}}:agg:key:${hour}`,
      `{${prefix}}:agg:model:${hour}`,
      `{${prefix}}:agg:tag:${hour}`,
      `{${prefix}}:agg:upstream:${hour}`,
      `{${prefix}}:agg:upstream_model_key:${hour}`,
      `{${prefix}}:events`,
      `{${prefix}}:seen:${hour + 60}`,
    ]);
    assert.deepEqual(await client.smembers(`{${prefix}}:seen:${hour + 60}`), ['r1']);
    const tagHash = await client.hgetall(`{${prefix}}:agg:tag:${hour}`);
    assert.equal(tagHash['1|req|a|b'], '1');
    assert.equal(tagHash['1|cost|a|b'], '9');
    // The billed amount: one counter per currency.
    assert.equal(tagHash['1|bill:USD|a|b'], '9');
    assert.equal((await client.hgetall(`{${prefix}}:agg:upstream:${hour}`))['1|req|default'], '1');
    // Recorded per hour: minute 0 whatever the record's minute.
    assert.equal((await client.hgetall(`{${prefix}}:agg:upstream_model_key:${hour}`))['0|req|default k1 claude-sonnet-4-5'], '1');
    assert.ok((await client.ttl(`{${prefix}}:agg:tag:${hour}`)) > 590);
    assert.ok((await client.ttl(`{${prefix}}:seen:${hour + 60}`)) > 290);
  });

  test('cluster: every key of one record hashes to one slot', async (t) => {
    const client: Cluster = await connectCluster(cluster.nodes);
    const prefix = freshPrefix();
    const store = new RedisStore(client, { prefix, bucketTtlSeconds: 600, recordsMaxLen: 10, ownsClient: false });
    t.after(async () => {
      await store.close();
      await client.quit();
    });
    await store.write(rec({ id: 'slot-check', ts: T0 }));
    const names = [
      'events',
      `seen:${T0 / 1000}`,
      ...['all', 'model', 'key', 'tag', 'upstream_model_key'].map((d) => `agg:${d}:${T0 / 1000}`),
      'keyhints',
    ];
    await store.saveKeyHint('k1', 'sk-ant-api03-abc...wxyz');
    const slots = await Promise.all(names.map((n) => client.cluster('KEYSLOT', `{${prefix}}:${n}`)));
    assert.equal(new Set(slots).size, 1);
  });

  test('when Redis is down, write() rejects fast and health() says so; both recover after restart', async (t) => {
    const own = await startRedis({ t });
    const client: Redis = await connectRedis(own.url);
    const store = new RedisStore(client, { prefix: freshPrefix(), bucketTtlSeconds: 600, recordsMaxLen: 10 });
    t.after(() => store.close());
    assert.deepEqual(await store.health(), { kind: 'redis', reachable: true });
    await own.stop();
    const started = Date.now();
    await assert.rejects(store.write(rec()));
    assert.ok(Date.now() - started < 500, `write took ${Date.now() - started} ms to fail`);
    const h = await store.health();
    assert.equal(h.reachable, false);
    assert.equal(typeof h.detail, 'string');
    await own.restart();
    await waitFor('the client to reconnect', async () => (await store.health()).reachable, 5_000); // backoff capped at 50 ms in tests
    assert.deepEqual(await store.health(), { kind: 'redis', reachable: true });
    await store.write(rec()); // the script cache is gone after restart: EVALSHA falls back to EVAL
  });
});
