/**
 * RedisBudgetStore against real redis-server processes started here (never the shared
 * :6379): the three store contracts on a single node and on a 3-master cluster, then what only
 * Redis has to prove: atomicity across separate clients (proxies), key layout and TTLs.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { budgetKeySchema } from '../../src/budget/store/keys.ts';
import { RedisBudgetStore, type BudgetRedisClient } from '../../src/budget/store/redis-budget-store.ts';
import type { InstanceRef, InstanceState } from '../../src/budget/types.ts';
import { amt, dayWindow, ref, rollingWindow } from '../contract/budget-store-fixtures.ts';
import { runBudgetLedgerContract } from '../contract/budget-store-ledger.contract.ts';
import { runBudgetLeaseContract } from '../contract/budget-store-lease.contract.ts';
import { runPaceBucketsContract } from '../contract/budget-store-pace.contract.ts';
import { runForecastStoreContract } from '../contract/budget-store-forecast.contract.ts';
import { HOUR, MIN, T0 } from '../contract/fixtures.ts';
import { startRedis, startRedisCluster } from '../helpers/redis-server.ts';
import { connectCluster, connectRedis } from './connect.ts';

const server = await startRedis();
const cluster = await startRedisCluster();
after(() => Promise.all([server.close(), cluster.stop()]));

let prefixes = 0;
/** A fresh prefix per store keeps tests independent on one server. */
const freshPrefix = (): string => `bt${process.pid}-${++prefixes}`;

const single = (): Promise<BudgetRedisClient> => connectRedis(server.url);
const clustered = (): Promise<BudgetRedisClient> => connectCluster(cluster.nodes);

function harness(connect: () => Promise<BudgetRedisClient>) {
  return async () => {
    const store = new RedisBudgetStore(await connect(), { prefix: freshPrefix() });
    return { store, cleanup: () => store.close() };
  };
}

for (const [label, connect] of [
  ['single node', single],
  ['3-master cluster', clustered],
] as const) {
  runBudgetLedgerContract(`RedisBudgetStore (${label})`, harness(connect));
  runBudgetLeaseContract(`RedisBudgetStore (${label})`, harness(connect));
  runPaceBucketsContract(`RedisBudgetStore (${label})`, harness(connect));
  runForecastStoreContract(`RedisBudgetStore (${label})`, harness(connect));
}

const total = (s: InstanceState | undefined): number => (s === undefined ? 0 : s.spentPico + s.reservedPico);

/**
 * 3 clients = 3 proxies, 600 admit→settle cycles all in flight at once against one cap.
 * Every admitted request reserves X and settles X, so what it holds never goes away: the
 * cap admits exactly floor(cap / X), and at no point may spent + reserved pass the cap.
 */
for (const [label, connect] of [
  ['single node', single],
  ['3-master cluster', clustered],
] as const) {
  test(`atomic across 3 clients (${label}): 600 concurrent admit/settle cycles never pass the cap`, async (t) => {
    const prefix = freshPrefix();
    const stores = await Promise.all([0, 1, 2].map(async () => new RedisBudgetStore(await connect(), { prefix })));
    t.after(() => Promise.all(stores.map((s) => s.close())));
    const X = 1_000_003;
    const cap = 250 * X + X - 1; // floor(cap / X) = 250
    const refs: InstanceRef[] = [
      ref({ budget: 'global', limitPico: cap }),
      ref({ budget: 'per-key', instance: 'k1', limitPico: null, limitTokens: 10_000_000 }),
      ref({ budget: 'shadow', limitPico: 1, enforce: false }),
    ];
    let admitted = 0;
    let maxSeen = 0;
    await Promise.all(
      Array.from({ length: 600 }, async (_, i) => {
        const store = stores[i % 3] as RedisBudgetStore;
        const id = `cycle-${i}`;
        const a = await store.admit(refs, id, [amt(X, 7), amt(X, 7), amt(X, 7)], T0 + i, 60_000);
        maxSeen = Math.max(maxSeen, total(a.states[0]));
        if (!a.admitted) {
          assert.equal(a.refusedBy, 0);
          return;
        }
        admitted++;
        const s = await store.settle(refs, id, [amt(X, 7), amt(X, 7), amt(X, 7)], T0 + i + 1);
        assert.equal(s.reservationFound, true);
        maxSeen = Math.max(maxSeen, total(s.after[0]));
      }),
    );
    assert.equal(admitted, 250);
    assert.ok(maxSeen <= cap, `spent + reserved reached ${maxSeen} > cap ${cap}`);
    const end = await stores[0]?.state(refs, T0 + 1_000);
    const held = { spentPico: 250 * X, reservedPico: 0, spentTokens: 250 * 7, reservedTokens: 0 };
    assert.deepEqual(end, [held, held, held], 'no reservation leaked; shadow counted alike');
  });
}

describe('RedisBudgetStore key layout', () => {
  test('keys share one hash tag, carry TTLs, and store exact decimal strings', async (t) => {
    const client = await connectRedis(server.url);
    const prefix = freshPrefix();
    const store = new RedisBudgetStore(client, { prefix, ownsClient: false });
    t.after(async () => {
      await store.close();
      await client.quit();
    });
    const cal = ref({ budget: 'b:1', instance: 'k/é' });
    const roll = ref({ budget: 'r', window: rollingWindow(HOUR, MIN) });
    const now = dayWindow().end - HOUR; // 23:00 on the window's day
    // Each ref gets its own amount (refs of one request may count different currencies).
    await store.admit([cal, roll], 'keep', [amt(5, 1), amt(36, 1)], now, 600_000);
    await store.settle([cal, roll], 'x', [amt(2 ** 50 + 1, 3), amt(2 ** 50 + 7, 3)], now);
    await store.claimAlert(cal, 0.8);
    const tag = `{${prefix}:budget}`;
    const base = `${tag}:i:b%3A1:k%2F%C3%A9:2025-01-15`;
    const rbase = `${tag}:i:r:*:rolling`;
    assert.deepEqual(
      (await client.keys(`${tag}:*`)).sort(),
      [
        `${tag}:a:b%3A1:k%2F%C3%A9:2025-01-15:0.8`,
        budgetKeySchema(prefix).settled('x'), // settle idempotency: one of 64 sets of settled ids
        `${tag}:hh:b%3A1:k%2F%C3%A9`, // hourly spend history
        `${tag}:hh:r:*`,
        `${tag}:hm:b%3A1:k%2F%C3%A9:${now - (now % HOUR)}`, // per-minute detail of this hour
        `${tag}:hm:r:*:${now - (now % HOUR)}`,
        base,
        `${base}:res`,
        `${base}:resv`,
        `${rbase}`,
        `${rbase}:res`,
        `${rbase}:resv`,
        `${tag}:n:b%3A1:2025-01-15`,
        `${tag}:n:r:rolling`,
      ].sort(),
    );
    assert.deepEqual(await client.hgetall(base), { s: String(2 ** 50 + 1), t: '3', r: '5', rt: '1' });
    const segment = Math.floor(now / MIN) * MIN;
    assert.deepEqual(await client.hgetall(rbase), { r: '36', rt: '1', [`b:${segment}`]: String(2 ** 50 + 7), [`bt:${segment}`]: '3' });
    assert.deepEqual(await client.hgetall(`${base}:resv`), { keep: '5:1' });
    assert.deepEqual(await client.hgetall(`${rbase}:resv`), { keep: '36:1' });
    assert.match(budgetKeySchema(prefix).settled('x'), /:d:\d+$/);
    assert.equal(await client.zscore(budgetKeySchema(prefix).settled('x'), 'x'), String(now + 6 * HOUR), 'forgotten after 6 hours');
    assert.equal(await client.zscore(`${base}:res`, 'keep'), String(now + 600_000));
    // Calendar: until the window end (1 h away) + 1 day; rolling: 1 h + 1 day.
    for (const k of [base, `${base}:res`, `${base}:resv`, `${tag}:n:b%3A1:2025-01-15`, rbase]) {
      const ttl = await client.ttl(k);
      assert.ok(ttl > 25 * 3600 - 5 && ttl <= 25 * 3600, `${k} ttl ${ttl}`);
    }
    const alertTtl = await client.ttl(`${tag}:a:b%3A1:k%2F%C3%A9:2025-01-15:0.8`);
    assert.ok(alertTtl > 2 * 86_400 - 5 && alertTtl <= 2 * 86_400, `alert ttl ${alertTtl}`);
  });

  test('settles and discards add no key per request: 500 settled ids sit in at most 64 sets, discarded instances leave nothing', async (t) => {
    const client = await connectRedis(server.url);
    const prefix = freshPrefix();
    const store = new RedisBudgetStore(client, { prefix, ownsClient: false });
    t.after(async () => {
      await store.close();
      await client.quit();
    });
    const tag = `{${prefix}:budget}`;
    for (let i = 0; i < 500; i++) {
      const r = [ref({ budget: 'g' }), ref({ budget: 'k', instance: `key-${i}` })];
      await store.admit(r, `req-${i}`, [amt(5, 1), amt(5, 1)], T0 + i, 60_000);
      if (i % 2 === 0) await store.settle(r, `req-${i}`, [amt(5, 1), amt(5, 1)], T0 + i);
      else await store.discard(r, `req-${i}`, T0 + i);
    }
    const markers = await client.keys(`${tag}:d:*`);
    assert.ok(markers.length <= 64, `${markers.length} marker keys`);
    const members = await Promise.all(markers.map((k) => client.zcard(k)));
    assert.equal(
      members.reduce((a, b) => a + b, 0),
      250,
      'one member per settled request, none per discarded one',
    );
    assert.equal((await client.keys(`${tag}:i:k:*`)).length, 250, 'an instance of each settled key only');
    assert.equal(await client.scard(`${tag}:n:k:${dayWindow().id}`), 250);
  });

  test('cluster: every budget key of a prefix hashes to one slot', async (t) => {
    const client = await connectCluster(cluster.nodes);
    const tag = `{${freshPrefix()}:budget}`;
    t.after(() => client.quit());
    const names = ['i:a:b:c', 'i:a:b:c:res', 'i:x%3A%7D:y:z:resv', 'n:a:c', 'a:a:b:c:0.5', 'd:17'];
    const slots = await Promise.all(names.map((n) => client.cluster('KEYSLOT', `${tag}:${n}`)));
    assert.equal(new Set(slots).size, 1);
  });

  test('the scripts survive a flushed script cache, as after a restart (EVALSHA falls back to EVAL)', async (t) => {
    const own = await startRedis();
    const client = await connectRedis(own.url);
    const store = new RedisBudgetStore(client, { prefix: freshPrefix(), ownsClient: false });
    // One hook, in order: a client quit after its server is gone would reconnect forever.
    t.after(async () => {
      await store.close();
      await client.quit();
      await own.close();
    });
    await store.admit([ref()], 'a', [amt(1)], T0, 60_000);
    await client.script('FLUSH');
    assert.deepEqual(await store.state([ref()], T0), [{ spentPico: 0, reservedPico: 1, spentTokens: 0, reservedTokens: 0 }]);
  });
});
