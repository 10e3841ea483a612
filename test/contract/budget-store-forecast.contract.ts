/**
 * The ForecastStore contract: the spend history the ledger writes (settles and refused demand)
 * as the forecaster reads it, the refit lock and forecast documents. Run by every adapter
 * (see budget-store-fixtures.ts); the history is written through the same adapter's ledger.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BudgetLedger, ForecastStore } from '../../src/budget/types.ts';
import { DAY, HOUR, MIN, T0 } from './fixtures.ts';
import { amt, dayWindow, ref, st, storeSetup, type MakeStore } from './budget-store-fixtures.ts';

export function runForecastStoreContract(
  name: string,
  make: MakeStore<ForecastStore & Pick<BudgetLedger, 'settle' | 'recordDemand' | 'state'>>,
): void {
  describe(`ForecastStore contract: ${name}`, () => {
    const { setup, rid } = storeSetup(make);

    test('settles feed the hourly and per-minute spend history, per instance, across windows', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1e12 });
      const other = ref({ limitPico: 1e12, instance: 'other' });
      await s.settle([r, other], rid(), [amt(100), amt(100)], T0);
      await s.settle([r], rid(), [amt(50)], T0 + 30_000);
      await s.settle([r], rid(), [amt(7)], T0 + HOUR);
      await s.settle([r], rid(), [amt(0)], T0 + HOUR); // zero spend leaves no entry
      const h0 = T0 - (T0 % HOUR);
      assert.deepEqual([...(await s.hourlySpend('b', '*', T0 - DAY, T0 + DAY)).entries()].sort(), [
        [h0, 150],
        [h0 + HOUR, 7],
      ]);
      assert.deepEqual([...(await s.hourlySpend('b', 'other', T0 - DAY, T0 + DAY)).entries()], [[h0, 100]]);
      assert.deepEqual([...(await s.hourlySpend('b', '*', h0 + HOUR, T0 + DAY)).entries()], [[h0 + HOUR, 7]], 'range is [from, to)');
      const m0 = T0 - (T0 % MIN);
      const minutes = await s.minuteSpend('b', '*', T0 - 10 * MIN, T0 + 5 * MIN);
      assert.equal(
        [...minutes.values()].reduce((a, b) => a + b, 0),
        150,
      );
      assert.equal(minutes.get(m0), T0 + 30_000 - ((T0 + 30_000) % MIN) === m0 ? 150 : 100);
    });

    test('claimRefit: one holder per key until the ttl passes on the caller clock; forecast documents expire likewise', async (t) => {
      const s = await setup(t);
      assert.equal(await s.claimRefit('b|*|w', 1_000, T0), true);
      assert.equal(await s.claimRefit('b|*|w', 1_000, T0 + 999), false);
      assert.equal(await s.claimRefit('other', 1_000, T0 + 999), true);
      assert.equal(await s.claimRefit('b|*|w', 1_000, T0 + 1_000), true, 'expired on the caller clock');
      await s.putForecast('b|*|w', '{"x":1}', 60_000, T0);
      assert.equal(await s.getForecast('b|*|w', T0 + 1), '{"x":1}');
      assert.equal(await s.getForecast('missing', T0), null);
    });

    test('claimIncident: one holder per key until the ttl passes, apart from the refit lock of the same key', async (t) => {
      const s = await setup(t);
      assert.equal(await s.claimRefit('b|*', 1_000, T0), true);
      assert.equal(await s.claimIncident('b|*', 1_000, T0), true, 'a refit lock does not hold an incident');
      assert.equal(await s.claimIncident('b|*', 1_000, T0 + 999), false);
      assert.equal(await s.claimIncident('b|k', 1_000, T0 + 999), true);
      assert.equal(await s.claimIncident('b|*', 1_000, T0 + 1_000), true, 'expired on the caller clock');
      assert.equal(await s.claimRefit('b|*', 1_000, T0 + 999), false, 'nor an incident the refit lock');
    });

    test('recordDemand adds refused demand to the history, not to the spend', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      await s.settle([r], rid(), [amt(100)], T0);
      await s.recordDemand([r], [400], T0);
      await s.recordDemand([r], [0], T0);
      const h0 = T0 - (T0 % HOUR);
      assert.deepEqual([...(await s.hourlySpend('b', '*', T0 - DAY, T0 + DAY)).entries()], [[h0, 500]]);
      assert.equal(
        [...(await s.minuteSpend('b', '*', T0 - MIN, T0 + MIN)).values()].reduce((a, b) => a + b, 0),
        500,
      );
      assert.deepEqual(await s.state([r], T0), [st(100, 0)]);
    });

    test('settle and recordDemand write each ref its own amount (its currency) into its history', async (t) => {
      const s = await setup(t);
      const usd = ref({ budget: 'usd', currency: 'USD', limitPico: 1e12 });
      const cny = ref({ budget: 'cny', currency: 'CNY', limitPico: 7.1e12 });
      await s.settle([usd, cny], rid(), [amt(100), amt(710)], T0);
      await s.recordDemand([usd, cny], [5, 36], T0);
      await s.recordDemand([usd, cny], [7, 0], T0); // a zero leaves the CNY history alone
      const h0 = T0 - (T0 % HOUR);
      assert.deepEqual([...(await s.hourlySpend('usd', '*', T0 - DAY, T0 + DAY)).entries()], [[h0, 112]]);
      assert.deepEqual([...(await s.hourlySpend('cny', '*', T0 - DAY, T0 + DAY)).entries()], [[h0, 746]]);
      const m0 = T0 - (T0 % MIN);
      assert.deepEqual([...(await s.minuteSpend('cny', '*', T0 - HOUR, T0 + HOUR)).entries()], [[m0, 746]]);
      await assert.rejects(s.recordDemand([usd, cny], [1], T0), RangeError, 'one demand per ref');
    });

    test('recordDemand records nothing for a scope with neither state nor history (a made-up key refused before the upstream saw it)', async (t) => {
      const s = await setup(t);
      const known = ref({ budget: 'k', instance: 'known' });
      await s.settle([known], rid(), [amt(100)], T0);
      const nextDay = ref({ budget: 'k', instance: 'known', window: dayWindow(16) });
      const madeUp = ref({ budget: 'k', instance: 'made-up' });
      await s.recordDemand([madeUp, nextDay], [400, 400], T0 + DAY);
      assert.deepEqual([...(await s.hourlySpend('k', 'made-up', T0 - DAY, T0 + 2 * DAY)).entries()], []);
      assert.deepEqual([...(await s.minuteSpend('k', 'made-up', T0 + DAY - MIN, T0 + DAY + MIN)).entries()], []);
      const hours = await s.hourlySpend('k', 'known', T0 - DAY, T0 + 2 * DAY);
      assert.equal(
        [...hours.values()].reduce((a, b) => a + b, 0),
        500,
        'history from an earlier window is enough',
      );
      await assert.rejects(s.recordDemand([madeUp, madeUp], [1, 1], T0), RangeError, 'refs are checked like every ledger call');
    });
  });
}
