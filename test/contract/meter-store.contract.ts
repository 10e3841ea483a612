/**
 * The MeterStore contract: one suite, run against every adapter (memory, Redis, Redis
 * Cluster). An adapter passes when these observable semantics match; how it stores
 * buckets is its own business.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MeterStore, RequestRecord, Totals, UsageRow } from '../../src/store/types.ts';
import { DAY, HOUR, MIN, prng, rec, T0, usage } from './fixtures.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { MAX_KEY_HINTS, parseUpstreamModelKey, upstreamModelKey } from '../../src/store/keys.ts';

export interface ContractStoreOptions {
  bucketTtlSeconds: number;
  recordsMaxLen: number;
}

export interface ContractHarness {
  store: MeterStore;
  /** The clock the store was built with; tests only read it. */
  clock: Clock;
  /** Lets `ms` pass for the store: advance the fake clock (memory) or really wait (Redis). */
  elapse(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

export type MakeStore = (opts: ContractStoreOptions) => Promise<ContractHarness>;

const DEFAULTS: ContractStoreOptions = { bucketTtlSeconds: 86_400, recordsMaxLen: 1_000 };

/** Strips a row to what a test compares; keeps bigint cost exact. */
const brief = (r: UsageRow) => ({ start: r.start, value: r.value, requests: r.totals.requests, cost: r.totals.costPicoUsd });

export function runMeterStoreContract(name: string, makeStore: MakeStore): void {
  describe(`MeterStore contract: ${name}`, () => {
    async function setup(t: { after(fn: () => unknown): void }, opts: Partial<ContractStoreOptions> = {}) {
      const h = await makeStore({ ...DEFAULTS, ...opts });
      t.after(() => h.cleanup());
      return h;
    }
    async function writeAll(store: MeterStore, records: RequestRecord[]): Promise<void> {
      for (const r of records) await store.write(r);
    }

    test('by=all, minute: every counter of a minute bucket, tokens split by cache TTL', async (t) => {
      const { store } = await setup(t);
      await writeAll(store, [
        rec({ usage: usage({ input: 5, output: 7, cacheCreation: 100, cacheCreation5m: 30, cacheCreation1h: 50, cacheRead: 9 }) }),
        rec({ ts: T0 + 59_999, usage: usage({ input: 1, output: 2, cacheCreation: 40, webSearchRequests: 3 }), costPicoUsd: 5 }),
        rec({ ts: T0 + 1_000, status: 529, usage: null, usageMissing: 'error_status', costPicoUsd: 0 }),
        rec({ ts: T0 + 2_000, status: 400, partial: true, unpriced: true, costPicoUsd: 0 }),
        rec({ ts: T0 + MIN, costPicoUsd: 1 }),
      ]);
      const rows = await store.query({ by: 'all', granularity: 'minute', from: T0, to: T0 + HOUR });
      assert.deepEqual(rows.map(brief), [
        { start: T0, value: '*', requests: 4, cost: 1_000n + 5n },
        { start: T0 + MIN, value: '*', requests: 1, cost: 1n },
      ]);
      const expected: Totals = {
        requests: 4,
        errors: 2,
        partial: 1,
        usageMissing: 1,
        unpriced: 1,
        // 20 of the 100 written tokens are outside the 5m/1h split: counted as 5m; unsplit 40 too.
        tokens: { input: 5 + 1 + 10, output: 7 + 2 + 20, cache_creation_5m: 50 + 40, cache_creation_1h: 50, cache_read: 9 },
        webSearchRequests: 3,
        costPicoUsd: 1_005n,
        billed: { USD: 1_005n },
        billedUnpriced: 1,
      };
      assert.deepEqual(rows[0]?.totals, expected);
    });

    test('by=model/key/tag: one row per value; null model → unknown, empty tag → untagged', async (t) => {
      const { store } = await setup(t);
      await writeAll(store, [
        rec({ model: 'claude-opus-4-1', keyId: 'kA', tag: 'batch' }),
        rec({ model: null, keyId: 'kB', tag: '' }),
        rec({ model: 'claude-opus-4-1', keyId: 'kB', tag: 'batch' }),
      ]);
      const q = { granularity: 'hour', from: T0, to: T0 + HOUR } as const;
      const values = async (by: 'model' | 'key' | 'tag') => (await store.query({ ...q, by })).map((r) => [r.value, r.totals.requests]);
      assert.deepEqual(await values('model'), [
        ['claude-opus-4-1', 2],
        ['unknown', 1],
      ]);
      assert.deepEqual(await values('key'), [
        ['kA', 1],
        ['kB', 2],
      ]);
      assert.deepEqual(await values('tag'), [
        ['batch', 2],
        ['untagged', 1],
      ]);
    });

    test('by=upstream: one row per upstream, list USD beside what each billed in its own currency', async (t) => {
      const { store } = await setup(t);
      await writeAll(store, [
        rec({ upstream: 'default', costPicoUsd: 3_000 }),
        rec({ upstream: 'holysheep', costPicoUsd: 3_000, currency: 'CNY', billedPico: 21_300 }),
        rec({ upstream: 'holysheep', ts: T0 + MIN, costPicoUsd: 1_000, currency: 'CNY', billedPico: 7_100 }),
        // Priced at list, but the upstream has no billed price for it: counted, not summed as 0.
        rec({ upstream: 'holysheep', costPicoUsd: 500, currency: 'CNY', billedPico: 0, billedUnpriced: true }),
        rec({ upstream: 'eu', costPicoUsd: 2_000, currency: 'EUR', billedPico: 1_850 }),
        rec({ upstream: 'eu', status: 529, usage: null, usageMissing: 'error_status', costPicoUsd: 0, currency: 'EUR', billedPico: 0 }),
      ]);
      const rows = await store.query({ by: 'upstream', granularity: 'hour', from: T0, to: T0 + HOUR });
      assert.deepEqual(
        rows.map((r) => [r.value, r.totals.requests, r.totals.costPicoUsd, r.totals.billed, r.totals.billedUnpriced, r.totals.unpriced]),
        [
          ['default', 1, 3_000n, { USD: 3_000n }, 0, 0],
          ['eu', 2, 2_000n, { EUR: 1_850n }, 0, 0],
          ['holysheep', 3, 4_500n, { CNY: 28_400n }, 1, 0],
        ],
      );
      // Every other dimension carries the same billed totals, one entry per currency.
      const [all] = await store.query({ by: 'all', granularity: 'hour', from: T0, to: T0 + HOUR });
      assert.deepEqual(all?.totals.billed, { USD: 3_000n, CNY: 28_400n, EUR: 1_850n });
      assert.equal(all?.totals.billedUnpriced, 1);
      const minutes = await store.query({ by: 'upstream', granularity: 'minute', from: T0, to: T0 + HOUR });
      assert.deepEqual(
        minutes.filter((r) => r.value === 'holysheep').map((r) => [r.start, r.totals.billed]),
        [
          [T0, { CNY: 21_300n }],
          [T0 + MIN, { CNY: 7_100n }],
        ],
      );
    });

    test('upstream names may contain |, :, { and } and read back unchanged', async (t) => {
      const { store } = await setup(t);
      await writeAll(store, [rec({ upstream: 'relay|a:{b}' }), rec({ upstream: 'relay' })]);
      const rows = await store.query({ by: 'upstream', granularity: 'minute', from: T0, to: T0 + MIN });
      assert.deepEqual(
        rows.map((r) => [r.value, r.totals.requests]),
        [
          ['relay', 1],
          ['relay|a:{b}', 1],
        ],
      );
    });

    test('by=upstream_model_key: per hour (rows start on the hour at every granularity), one value per upstream, key and model', async (t) => {
      const { store } = await setup(t);
      const first = rec({ upstream: 'anthropic', keyId: 'kA', model: 'claude-opus-4-1', ts: T0 + 5 * MIN, costPicoUsd: 10 });
      await store.write(first);
      // A batch holding a record written before goes through the Redis store's exact path: the same fields.
      await store.writeBatch([
        first,
        rec({ upstream: 'anthropic', keyId: 'kA', model: 'claude-opus-4-1', ts: T0 + 59 * MIN, costPicoUsd: 20 }),
        rec({ upstream: 'relay|a b', keyId: 'kA', model: 'm with | and space', ts: T0 + 7 * MIN, costPicoUsd: 40 }),
      ]);
      await store.writeBatch([
        rec({ upstream: 'anthropic', keyId: 'kB', model: null, ts: T0 + HOUR + MIN, costPicoUsd: 80 }),
        rec({ upstream: 'anthropic', keyId: 'kA', model: 'claude-opus-4-1', ts: T0 + HOUR + 2 * MIN, costPicoUsd: 160 }),
      ]);
      const value = (u: string, k: string, m: string) => upstreamModelKey(u, k, m);
      const minutes = await store.query({ by: 'upstream_model_key', granularity: 'minute', from: T0, to: T0 + 2 * HOUR });
      assert.deepEqual(minutes.map(brief), [
        { start: T0, value: value('anthropic', 'kA', 'claude-opus-4-1'), requests: 2, cost: 30n },
        { start: T0, value: value('relay|a b', 'kA', 'm with | and space'), requests: 1, cost: 40n },
        { start: T0 + HOUR, value: value('anthropic', 'kA', 'claude-opus-4-1'), requests: 1, cost: 160n },
        { start: T0 + HOUR, value: value('anthropic', 'kB', 'unknown'), requests: 1, cost: 80n },
      ]);
      const days = await store.query({ by: 'upstream_model_key', granularity: 'day', from: T0, to: T0 + 2 * HOUR });
      assert.deepEqual(
        days.map((r) => [r.start, parseUpstreamModelKey(r.value), r.totals.requests]),
        [
          [T0 - 10 * HOUR, { upstream: 'anthropic', keyId: 'kA', model: 'claude-opus-4-1' }, 3],
          [T0 - 10 * HOUR, { upstream: 'anthropic', keyId: 'kB', model: 'unknown' }, 1],
          [T0 - 10 * HOUR, { upstream: 'relay|a b', keyId: 'kA', model: 'm with | and space' }, 1],
        ],
      );
      // The per-minute dimensions still see each record at its minute.
      const byModel = await store.query({ by: 'model', granularity: 'minute', from: T0 + 59 * MIN, to: T0 + HOUR });
      assert.deepEqual(byModel.map(brief), [{ start: T0 + 59 * MIN, value: 'claude-opus-4-1', requests: 1, cost: 20n }]);
    });

    test('key hints: first write wins, only hint-shaped values, bounded at MAX_KEY_HINTS key ids', async (t) => {
      const { store } = await setup(t);
      assert.deepEqual(await store.keyHints(), new Map());
      assert.equal(await store.saveKeyHint('kA', 'sk-ant-api03-R2D...igAA'), true);
      assert.equal(await store.saveKeyHint('kA', 'sk-ant-api03-R2D...igAA'), true, 'the same hint again');
      assert.equal(await store.saveKeyHint('kA', 'sk-ant-api03-XXX...igAA'), false, 'first write wins');
      await assert.rejects(store.saveKeyHint('kB', 'sk-ant-api03-R2Dxxxxxxxxxxxxxxxxxxxx-igAA'), RangeError, 'a raw key is never kept');
      await assert.rejects(store.saveKeyHint('kB', 'sk-proj-abc...igAA'), RangeError);
      assert.deepEqual(await store.keyHints(), new Map([['kA', 'sk-ant-api03-R2D...igAA']]));
      const ids = Array.from({ length: MAX_KEY_HINTS }, (_, i) => `id${i}`);
      for (let i = 0; i < ids.length; i += 500) {
        await Promise.all(ids.slice(i, i + 500).map((id) => store.saveKeyHint(id, 'sk-ant-api03-abc...wxyz')));
      }
      const hints = await store.keyHints();
      assert.equal(hints.size, MAX_KEY_HINTS);
      assert.equal(hints.get('kA'), 'sk-ant-api03-R2D...igAA');
      assert.equal(await store.saveKeyHint('late', 'sk-ant-api03-abc...wxyz'), false, 'full: a new key id is not kept');
      assert.equal((await store.keyHints()).has('late'), false);
    });

    test('billed sums are exact bigints per currency, in batches and one by one, where a float sum drifts', async (t) => {
      const { store } = await setup(t);
      const random = prng(7);
      const billed = [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 1, 3];
      for (let i = 0; i < 300; i++) billed.push(Math.floor(random() * 1e15));
      const records = billed.map((billedPico, i) =>
        rec({ ts: T0 + (i % 90) * MIN, upstream: i % 3 === 0 ? 'eu' : 'holysheep', currency: i % 3 === 0 ? 'EUR' : 'CNY', billedPico }),
      );
      // Half through writeBatch (the Recorder's path, summed before Redis), half one by one.
      await store.writeBatch(records.slice(0, 150));
      await writeAll(store, records.slice(150));
      const exact = (cur: string) => records.filter((r) => r.currency === cur).reduce((s, r) => s + BigInt(r.billedPico), 0n);
      const float = billed.reduce((s, c) => s + c, 0);
      assert.notEqual(BigInt(float), exact('CNY') + exact('EUR'), 'the inputs must be ones where a float sum is wrong');
      const [all] = await store.query({ by: 'all', granularity: 'day', from: T0, to: T0 + DAY });
      assert.deepEqual(all?.totals.billed, { CNY: exact('CNY'), EUR: exact('EUR') });
      const byUpstream = await store.query({ by: 'upstream', granularity: 'day', from: T0, to: T0 + DAY });
      assert.deepEqual(
        byUpstream.map((r) => [r.value, r.totals.billed]),
        [
          ['eu', { EUR: exact('EUR') }],
          ['holysheep', { CNY: exact('CNY') }],
        ],
      );
    });

    test('hour and day granularity roll minutes up; rows sorted by start, then value', async (t) => {
      const { store } = await setup(t);
      const midnight = Date.UTC(2025, 0, 16);
      await writeAll(store, [
        rec({ ts: midnight + 5 * MIN, tag: 'b' }),
        rec({ ts: midnight - 1, tag: 'a' }), // 23:59:59.999, the previous day
        rec({ ts: midnight - HOUR + 30 * MIN, tag: 'b' }),
        rec({ ts: midnight + HOUR + 1, tag: 'a' }),
        rec({ ts: midnight + 5 * MIN + 1, tag: 'a' }),
      ]);
      const range = { by: 'tag', from: midnight - 2 * HOUR, to: midnight + 2 * HOUR } as const;
      const hours = await store.query({ ...range, granularity: 'hour' });
      assert.deepEqual(
        hours.map((r) => [r.start - midnight, r.value, r.totals.requests]),
        [
          [-HOUR, 'a', 1],
          [-HOUR, 'b', 1],
          [0, 'a', 1],
          [0, 'b', 1],
          [HOUR, 'a', 1],
        ],
      );
      const days = await store.query({ ...range, granularity: 'day' });
      assert.deepEqual(
        days.map((r) => [r.start - midnight, r.value, r.totals.requests]),
        [
          [-DAY, 'a', 1],
          [-DAY, 'b', 1],
          [0, 'a', 2],
          [0, 'b', 1],
        ],
      );
    });

    test('range is [minute of from, to) across many hours', async (t) => {
      const { store } = await setup(t);
      const at = [T0 - MIN, T0, T0 + 3 * HOUR + 59 * MIN, T0 + 7 * HOUR, T0 + 26 * HOUR];
      await writeAll(
        store,
        at.map((ts) => rec({ ts })),
      );
      // from mid-minute: the minute it falls in is included; a record at `to` is not.
      const rows = await store.query({ by: 'all', granularity: 'minute', from: T0 + 30_000, to: T0 + 7 * HOUR });
      assert.deepEqual(
        rows.map((r) => r.start),
        [T0, T0 + 3 * HOUR + 59 * MIN],
      );
      const day = await store.query({ by: 'all', granularity: 'hour', from: T0 - HOUR, to: T0 + 27 * HOUR });
      assert.equal(
        day.reduce((n, r) => n + r.totals.requests, 0),
        5,
      );
      assert.deepEqual(await store.query({ by: 'all', granularity: 'hour', from: T0 + HOUR, to: T0 + HOUR }), []);
      assert.deepEqual(await store.query({ by: 'all', granularity: 'hour', from: T0 + 8 * HOUR, to: T0 + 20 * HOUR }), []);
    });

    test('values may contain |, :, { and } and read back unchanged', async (t) => {
      const { store } = await setup(t);
      const odd = { model: 'm|1:x', keyId: 'k:{a}|b', tag: '|t|:|' };
      await writeAll(store, [rec(odd), rec(odd), rec({ model: 'm', keyId: 'k', tag: 't' })]);
      const q = { granularity: 'minute', from: T0, to: T0 + MIN } as const;
      const cases = [
        ['model', 'm', odd.model],
        ['key', 'k', odd.keyId],
        ['tag', 't', odd.tag],
      ] as const;
      for (const [by, plain, value] of cases) {
        const rows = await store.query({ ...q, by });
        // Code-unit order: a plain letter sorts before the same letter followed by anything.
        assert.deepEqual(
          rows.map((r) => [r.value, r.totals.requests]),
          [
            [plain, 1],
            [value, 2],
          ],
          by,
        );
      }
    });

    test('idempotent by id: a second write of the same record changes nothing', async (t) => {
      const { store } = await setup(t);
      const r = rec({ costPicoUsd: 777 });
      await store.write(r);
      await store.write(r);
      await store.write({ ...r });
      const rows = await store.query({ by: 'all', granularity: 'minute', from: T0, to: T0 + MIN });
      assert.deepEqual(rows.map(brief), [{ start: T0, value: '*', requests: 1, cost: 777n }]);
      assert.equal((await store.recent(10)).length, 1);
    });

    test('writeBatch: a batch counts like its records written one by one, retried whole counts once, one invalid record writes nothing', async (t) => {
      const { store } = await setup(t);
      const batch = [
        rec({ id: 'b1', costPicoUsd: 5 }),
        rec({ id: 'b2', ts: T0 + MIN, model: 'claude-haiku-4-5', costPicoUsd: 7 }),
        rec({ id: 'b3', costPicoUsd: 11 }),
      ];
      await store.writeBatch(batch);
      await store.writeBatch(batch); // a retry after an ambiguous failure
      await assert.rejects(store.writeBatch([rec({ id: 'b4', costPicoUsd: 1 }), rec({ id: 'b5', costPicoUsd: -1 })]), RangeError);
      const rows = await store.query({ by: 'model', granularity: 'minute', from: T0, to: T0 + 2 * MIN });
      assert.deepEqual(rows.map(brief), [
        { start: T0, value: rec().model ?? 'unknown', requests: 2, cost: 16n },
        { start: T0 + MIN, value: 'claude-haiku-4-5', requests: 1, cost: 7n },
      ]);
      assert.deepEqual((await store.recent(10)).map((r) => r.id).sort(), ['b1', 'b2', 'b3']);
    });

    test('cost sums are exact bigints where a float sum drifts', async (t) => {
      const { store } = await setup(t);
      const costs = [Number.MAX_SAFE_INTEGER, 1, 1, 1];
      const random = prng(42);
      for (let i = 0; i < 200; i++) costs.push(Math.floor(random() * 1e15));
      await writeAll(
        store,
        costs.map((costPicoUsd, i) => rec({ costPicoUsd, ts: T0 + (i % 120) * MIN })),
      );
      const exact = costs.reduce((s, c) => s + BigInt(c), 0n);
      const float = costs.reduce((s, c) => s + c, 0);
      assert.notEqual(BigInt(float), exact, 'the inputs must be ones where a float sum is wrong');
      const rows = await store.query({ by: 'all', granularity: 'day', from: T0, to: T0 + DAY });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.totals.costPicoUsd, exact);
      assert.equal(typeof rows[0]?.totals.costPicoUsd, 'bigint');
    });

    test('recent(): newest first, capped by limit and by recordsMaxLen, records round-trip', async (t) => {
      const { store } = await setup(t, { recordsMaxLen: 5 });
      const records = Array.from({ length: 8 }, (_, i) =>
        rec({ ts: T0 + i, tag: i % 2 === 0 ? '' : `t${i}`, model: i === 3 ? null : 'm', ttftMs: i === 4 ? 12.25 : null }),
      );
      records[5] = rec({ ...records[5], usage: null, usageMissing: 'stream_incomplete', errorType: 'overloaded_error', stream: true });
      records[6] = rec({ ...records[6], upstream: 'holysheep', currency: 'CNY', billedPico: 7_100, usageAdjusted: 'cached_above_prompt' });
      records[7] = rec({ ...records[7], unpriced: true, costPicoUsd: 0, billedUnpriced: true, billedPico: 0 });
      await writeAll(store, records);
      assert.deepEqual(await store.recent(3), [records[7], records[6], records[5]]);
      assert.deepEqual(await store.recent(100), records.slice(3).reverse());
      assert.deepEqual(await store.recent(0), []);
    });

    test('invalid records are rejected and write nothing', async (t) => {
      const { store } = await setup(t);
      await assert.rejects(store.write(rec({ costPicoUsd: 1.5 })), RangeError);
      await assert.rejects(store.write(rec({ usage: usage({ output: -1 }) })), RangeError);
      await assert.rejects(store.write(rec({ id: '' })), RangeError);
      // The currency names a stored counter and the upstream a dimension value.
      for (const currency of ['usd', 'US|D', 'USDX', '']) await assert.rejects(store.write(rec({ currency })), RangeError, currency);
      await assert.rejects(store.write(rec({ upstream: '' })), RangeError);
      await assert.rejects(store.write(rec({ billedPico: -1 })), RangeError);
      await assert.rejects(store.write(rec({ billedPico: 0.5 })), RangeError);
      assert.deepEqual(await store.query({ by: 'all', granularity: 'day', from: T0, to: T0 + DAY }), []);
      assert.deepEqual(await store.recent(10), []);
    });

    test('buckets expire bucketTtlSeconds after their last write', async (t) => {
      const { store, clock, elapse } = await setup(t, { bucketTtlSeconds: 1 });
      const ts = clock.now();
      await store.write(rec({ ts }));
      const q = { by: 'key', granularity: 'hour', from: ts - HOUR, to: ts + HOUR } as const;
      assert.equal((await store.query(q)).length, 1);
      await elapse(1_500);
      assert.deepEqual(await store.query(q), []);
      assert.equal((await store.recent(10)).length, 1, 'the record log is capped by length, not TTL');
    });
  });
}
