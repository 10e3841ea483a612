/**
 * The BudgetLedger contract: admission, settlement, state, instance listings and alert claims,
 * as the gate relies on them. Run by every adapter (see budget-store-fixtures.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Amount, BudgetLedger, Cost } from '../../src/budget/types.ts';
import { amountIn } from '../../src/budget/cost.ts';
import { ExchangeRates } from '../../src/core/currency.ts';
import { DAY, HOUR, MIN, T0 } from './fixtures.ts';
import { amt, dayWindow, ref, rollingWindow, st, storeSetup, TTL, type MakeStore } from './budget-store-fixtures.ts';

export function runBudgetLedgerContract(name: string, make: MakeStore<BudgetLedger>): void {
  describe(`BudgetLedger contract: ${name}`, () => {
    const { setup, rid } = storeSetup(make);

    test('admit within the limit reserves the amount on the ref', async (t) => {
      const s = await setup(t);
      const r = ref();
      assert.deepEqual(await s.state([r], T0), [st(0, 0)]);
      assert.deepEqual(await s.admit([r], rid(), [amt(300, 7)], T0, TTL), {
        admitted: true,
        refusedBy: -1,
        fitsUnreserved: true,
        states: [st(0, 300, 0, 7)],
      });
      assert.deepEqual(await s.state([r], T0 + 1), [st(0, 300, 0, 7)]);
    });

    test('boundary: spent + reserved + amount exactly equal to the limit is admitted, one pico more is not', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      const a = rid();
      await s.admit([r], a, [amt(600)], T0, TTL);
      await s.settle([r], a, [amt(600)], T0);
      await s.admit([r], rid(), [amt(300)], T0, TTL);
      const over = await s.admit([r], rid(), [amt(101)], T0, TTL);
      assert.deepEqual(over, { admitted: false, refusedBy: 0, fitsUnreserved: true, states: [st(600, 300)] }, 'a refusal changes nothing');
      assert.deepEqual(await s.admit([r], rid(), [amt(100)], T0, TTL), {
        admitted: true,
        refusedBy: -1,
        fitsUnreserved: true,
        states: [st(600, 400)],
      });
      assert.equal((await s.admit([r], rid(), [amt(1)], T0, TTL)).admitted, false);
      assert.equal((await s.admit([r], rid(), [amt(0)], T0, TTL)).admitted, true, 'a zero amount fits a full budget');
    });

    test('a refusal says whether it would have fitted without the reservations in flight (USD and tokens)', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000, limitTokens: 100 });
      const a = rid();
      await s.admit([r], a, [amt(400, 10)], T0, TTL);
      await s.settle([r], a, [amt(400, 10)], T0);
      await s.admit([r], rid(), [amt(500, 10)], T0, TTL);
      assert.deepEqual(await s.admit([r], rid(), [amt(600, 10)], T0, TTL), {
        admitted: false,
        refusedBy: 0,
        fitsUnreserved: true,
        states: [st(400, 500, 10, 10)],
      });
      assert.equal((await s.admit([r], rid(), [amt(601, 10)], T0, TTL)).fitsUnreserved, false, 'over the limit even unreserved');
      assert.equal((await s.admit([r], rid(), [amt(100, 91)], T0, TTL)).fitsUnreserved, false, 'tokens over even unreserved');
      const tight = ref({ budget: 'tight', limitPico: 500 });
      const first = await s.admit([ref({ budget: 'loose', limitPico: 10_000 }), tight], rid(), [amt(450), amt(450)], T0, TTL);
      const second = await s.admit([ref({ budget: 'loose', limitPico: 10_000 }), tight], rid(), [amt(450), amt(450)], T0, TTL);
      assert.equal(first.admitted, true);
      assert.deepEqual([second.admitted, second.refusedBy, second.fitsUnreserved], [false, 1, true], 'the flag is about the refusing ref');
    });

    test('token limits, and refs with only a USD or only a token limit', async (t) => {
      const s = await setup(t);
      const tokensOnly = ref({ budget: 'tok', limitPico: null, limitTokens: 100 });
      const usdOnly = ref({ budget: 'usd', limitPico: 50, limitTokens: null });
      assert.equal((await s.admit([tokensOnly], rid(), [amt(1e15, 100)], T0, TTL)).admitted, true);
      assert.deepEqual(await s.admit([tokensOnly], rid(), [amt(0, 1)], T0, TTL), {
        admitted: false,
        refusedBy: 0,
        fitsUnreserved: true,
        states: [st(0, 1e15, 0, 100)],
      });
      assert.equal((await s.admit([usdOnly], rid(), [amt(50, 1e12)], T0, TTL)).admitted, true);
      assert.equal((await s.admit([usdOnly], rid(), [amt(1, 0)], T0, TTL)).admitted, false);
      const both = ref({ budget: 'both', limitPico: 10, limitTokens: 10 });
      assert.equal((await s.admit([both], rid(), [amt(10, 11)], T0, TTL)).admitted, false, 'tokens over');
      assert.equal((await s.admit([both], rid(), [amt(11, 10)], T0, TTL)).admitted, false, 'usd over');
      assert.equal((await s.admit([both], rid(), [amt(10, 10)], T0, TTL)).admitted, true);
    });

    test('several refs: when the second refuses, nothing is reserved on the first', async (t) => {
      const s = await setup(t);
      const global = ref({ budget: 'global', limitPico: 1_000 });
      const key = ref({ budget: 'per-key', instance: 'k1', limitPico: 100 });
      const res = await s.admit([global, key], rid(), [amt(150), amt(150)], T0, TTL);
      assert.deepEqual(res, { admitted: false, refusedBy: 1, fitsUnreserved: false, states: [st(0, 0), st(0, 0)] });
      assert.deepEqual(await s.state([global, key], T0), [st(0, 0), st(0, 0)]);
      assert.deepEqual(await s.instances('global', dayWindow().id), [], 'a refused admit lists nothing');
      const ok = await s.admit([global, key], rid(), [amt(100), amt(100)], T0, TTL);
      assert.deepEqual(ok.states, [st(0, 100), st(0, 100)]);
    });

    test('shadow refs never refuse but are reserved and settled like any other', async (t) => {
      const s = await setup(t);
      const shadow = ref({ budget: 'shadow', limitPico: 10, limitTokens: 1, enforce: false });
      const hard = ref({ budget: 'hard', limitPico: 500 });
      const id = rid();
      assert.deepEqual(await s.admit([shadow, hard], id, [amt(400, 5), amt(400, 5)], T0, TTL), {
        admitted: true,
        refusedBy: -1,
        fitsUnreserved: true,
        states: [st(0, 400, 0, 5), st(0, 400, 0, 5)],
      });
      const settled = await s.settle([shadow, hard], id, [amt(300, 4), amt(300, 4)], T0);
      assert.deepEqual(settled.after, [st(300, 0, 4, 0), st(300, 0, 4, 0)]);
      // Far over its limit the shadow ref still does not refuse; the enforcing one does, at index 1.
      const refused = await s.admit([shadow, hard], rid(), [amt(201), amt(201)], T0, TTL);
      assert.deepEqual([refused.admitted, refused.refusedBy], [false, 1]);
    });

    test('settle is idempotent by id: a retry after an ambiguous failure adds nothing', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 10_000 });
      const id = rid();
      await s.admit([r], id, [amt(300, 3)], T0, TTL);
      const first = await s.settle([r], id, [amt(250, 2)], T0);
      assert.equal(first.duplicate, false);
      assert.equal(first.reservationFound, true);
      const again = await s.settle([r], id, [amt(250, 2)], T0 + 5);
      assert.equal(again.duplicate, true);
      assert.deepEqual(again.after, [st(250, 0, 2, 0)]);
      assert.deepEqual(await s.state([r], T0 + 6), [st(250, 0, 2, 0)]);
    });

    test('settle releases the reservation and adds the actual amount, above or below the reservation', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 10_000, limitTokens: 10_000 });
      const a = rid();
      const b = rid();
      await s.admit([r], a, [amt(100, 10)], T0, TTL);
      await s.admit([r], b, [amt(100, 10)], T0, TTL);
      assert.deepEqual(await s.settle([r], a, [amt(250, 30)], T0 + 1), {
        before: [st(0, 200, 0, 20)],
        after: [st(250, 100, 30, 10)],
        reservationFound: true,
        duplicate: false,
      });
      assert.deepEqual(await s.settle([r], b, [amt(40, 2)], T0 + 2), {
        before: [st(250, 100, 30, 10)],
        after: [st(290, 0, 32, 0)],
        reservationFound: true,
        duplicate: false,
      });
      const again = await s.settle([r], b, [amt(0)], T0 + 3);
      assert.equal(again.reservationFound, false, 'a reservation is released once');
      assert.deepEqual(again.after, [st(290, 0, 32, 0)]);
    });

    test('reservations expire after their ttl; a late settle still adds spend and reports it', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      const id = rid();
      await s.admit([r], id, [amt(800)], T0, 5_000);
      assert.equal((await s.admit([r], rid(), [amt(300)], T0 + 4_999, 1)).admitted, false);
      assert.deepEqual(await s.state([r], T0 + 4_999), [st(0, 800)]);
      assert.deepEqual(await s.state([r], T0 + 5_000), [st(0, 0)], 'expiry = admit now + ttl, exclusive');
      const late = await s.settle([r], id, [amt(700)], T0 + 6_000);
      assert.deepEqual(late, { before: [st(0, 0)], after: [st(700, 0)], reservationFound: false, duplicate: false });
      assert.equal((await s.admit([r], rid(), [amt(300)], T0 + 6_000, TTL)).admitted, true);
      assert.equal((await s.admit([r], rid(), [amt(1)], T0 + 6_000, TTL)).admitted, false);
    });

    test('a replayed admit with the same id replaces its reservation instead of adding another', async (t) => {
      const s = await setup(t);
      const r = ref({ limitPico: 1_000 });
      const id = rid();
      await s.admit([r], id, [amt(300)], T0, TTL);
      await s.admit([r], id, [amt(300)], T0 + 1, TTL);
      assert.deepEqual(await s.state([r], T0 + 2), [st(0, 300)]);
      assert.equal((await s.settle([r], id, [amt(300)], T0 + 3)).reservationFound, true);
      assert.deepEqual(await s.state([r], T0 + 3), [st(300, 0)]);
    });

    test('rolling window: spend counts for rollingMs from its segment start, then drops out', async (t) => {
      const s = await setup(t);
      const r = (now: number) => ref({ window: rollingWindow(HOUR, MIN, now), limitPico: 1_000, limitTokens: 100 });
      await s.settle([r(T0)], rid(), [amt(100, 1)], T0); // segment T0
      await s.settle([r(T0 + MIN - 1)], rid(), [amt(200, 2)], T0 + MIN - 1); // segment T0 too
      await s.settle([r(T0 + MIN)], rid(), [amt(400, 4)], T0 + MIN); // next segment
      assert.deepEqual(await s.state([r(T0 + HOUR - 1)], T0 + HOUR - 1), [st(700, 0, 7, 0)]);
      assert.deepEqual(await s.state([r(T0 + HOUR)], T0 + HOUR), [st(400, 0, 4, 0)], 'segment T0 ages out whole');
      assert.deepEqual(await s.state([r(T0 + HOUR + MIN - 1)], T0 + HOUR + MIN - 1), [st(400, 0, 4, 0)]);
      assert.deepEqual(await s.state([r(T0 + HOUR + MIN)], T0 + HOUR + MIN), [st(0, 0)]);
      // Enforcement follows the window: refused while old spend counts, admitted once it has aged out.
      await s.settle([r(T0 + 2 * HOUR)], rid(), [amt(900)], T0 + 2 * HOUR);
      assert.equal((await s.admit([r(T0 + 3 * HOUR - 1)], rid(), [amt(200)], T0 + 3 * HOUR - 1, TTL)).admitted, false);
      assert.deepEqual((await s.admit([r(T0 + 3 * HOUR)], rid(), [amt(200)], T0 + 3 * HOUR, TTL)).states, [st(0, 200)]);
    });

    test('rolling window: spend long past the window is gone, and spending again starts fresh', async (t) => {
      const s = await setup(t);
      const w = rollingWindow(DAY, HOUR);
      const r = ref({ window: w, limitPico: 1_000 });
      for (let h = 0; h < 30; h++) await s.settle([r], rid(), [amt(10)], T0 + h * HOUR);
      assert.deepEqual(await s.state([r], T0 + 29 * HOUR), [st(240, 0)], 'the last 24 hourly segments');
      assert.deepEqual(await s.state([r], T0 + 10 * DAY), [st(0, 0)]);
      await s.settle([r], rid(), [amt(5)], T0 + 10 * DAY);
      assert.deepEqual(await s.state([r], T0 + 10 * DAY), [st(5, 0)]);
    });

    test('calendar windows: a new window id starts at zero and the old one keeps its state', async (t) => {
      const s = await setup(t);
      const today = ref({ window: dayWindow(15) });
      const tomorrow = ref({ window: dayWindow(16) });
      const id = rid();
      await s.admit([today], id, [amt(1_000)], T0, TTL);
      await s.settle([today], id, [amt(1_000)], T0);
      assert.equal((await s.admit([today], rid(), [amt(1)], T0, TTL)).admitted, false);
      assert.deepEqual(await s.state([tomorrow], T0 + DAY), [st(0, 0)]);
      assert.equal((await s.admit([tomorrow], rid(), [amt(1_000)], T0 + DAY, TTL)).admitted, true);
      assert.deepEqual(await s.state([today], T0 + DAY), [st(1_000, 0)]);
    });

    test('discard releases the reservation and drops every instance it leaves empty, listing included', async (t) => {
      const s = await setup(t);
      const global = ref({ budget: 'global', limitPico: 10_000 });
      const fresh = ref({ budget: 'per-key', instance: 'bad-key', limitPico: 1_000 });
      const id = rid();
      await s.admit([global, fresh], id, [amt(300, 3), amt(300, 3)], T0, TTL);
      assert.deepEqual(await s.instances('per-key', dayWindow().id), ['bad-key']);
      assert.deepEqual(await s.discard([global, fresh], id, T0 + 1), { dropped: [true, true], after: [st(0, 0), st(0, 0)] });
      assert.deepEqual(await s.instances('per-key', dayWindow().id), [], 'no listing entry left');
      assert.deepEqual(await s.instances('global', dayWindow().id), []);
      assert.deepEqual(await s.state([global, fresh], T0 + 2), [st(0, 0), st(0, 0)]);
      assert.deepEqual(
        await s.discard([global, fresh], id, T0 + 3),
        { dropped: [true, true], after: [st(0, 0), st(0, 0)] },
        'again: nothing',
      );
      assert.equal((await s.admit([fresh], rid(), [amt(1_000)], T0 + 4, TTL)).admitted, true, 'the whole limit is there again');
    });

    test('discard keeps an instance with spend or another reservation, releasing only its own', async (t) => {
      const s = await setup(t);
      const spent = ref({ budget: 'per-key', instance: 'good', limitPico: 1_000 });
      const busy = ref({ budget: 'per-key', instance: 'busy', limitPico: 1_000 });
      const a = rid();
      await s.admit([spent], a, [amt(100, 1)], T0, TTL);
      await s.settle([spent], a, [amt(100, 1)], T0);
      const b = rid();
      const other = rid();
      await s.admit([spent, busy], b, [amt(200, 2), amt(200, 2)], T0, TTL);
      await s.admit([busy], other, [amt(50)], T0, TTL);
      assert.deepEqual(await s.discard([spent, busy], b, T0 + 1), { dropped: [false, false], after: [st(100, 0, 1, 0), st(0, 50)] });
      assert.deepEqual(await s.instances('per-key', dayWindow().id), ['busy', 'good']);
      assert.deepEqual(await s.discard([busy], other, T0 + 2), { dropped: [true], after: [st(0, 0)] }, 'the last reservation gone');
      assert.deepEqual(await s.instances('per-key', dayWindow().id), ['good']);
      assert.equal((await s.settle([spent], b, [amt(0)], T0 + 3)).reservationFound, false, 'released once');
    });

    test('discard drops a rolling instance whose spend has aged out of its window', async (t) => {
      const s = await setup(t);
      const r = (now: number) => ref({ budget: 'roll', instance: 'k', window: rollingWindow(HOUR, MIN, now), limitPico: 1_000 });
      await s.settle([r(T0)], rid(), [amt(100)], T0);
      const id = rid();
      await s.admit([r(T0 + 30 * MIN)], id, [amt(10)], T0 + 30 * MIN, TTL);
      assert.deepEqual((await s.discard([r(T0 + 30 * MIN)], id, T0 + 30 * MIN)).dropped, [false], 'spend within the hour');
      const late = rid();
      await s.admit([r(T0 + 2 * HOUR)], late, [amt(10)], T0 + 2 * HOUR, TTL);
      assert.deepEqual(await s.discard([r(T0 + 2 * HOUR)], late, T0 + 2 * HOUR), { dropped: [true], after: [st(0, 0)] });
    });

    test('instances() lists the scope values with state in a window, per budget', async (t) => {
      const s = await setup(t);
      const w = dayWindow();
      await s.admit([ref({ budget: 'per-key', instance: 'kB' }), ref({ budget: 'global' })], rid(), [amt(1), amt(1)], T0, TTL);
      await s.settle([ref({ budget: 'per-key', instance: 'kA' })], rid(), [amt(1)], T0);
      await s.admit([ref({ budget: 'per-key', instance: 'kB' })], rid(), [amt(1)], T0, TTL);
      await s.admit([ref({ budget: 'per-key', instance: 'kC', window: dayWindow(16) })], rid(), [amt(1)], T0 + DAY, TTL);
      assert.deepEqual(await s.instances('per-key', w.id), ['kA', 'kB']);
      assert.deepEqual(await s.instances('global', w.id), ['*']);
      assert.deepEqual(await s.instances('per-key', dayWindow(16).id), ['kC']);
      assert.deepEqual(await s.instances('nope', w.id), []);
    });

    test('claimAlert is true exactly once per (budget, instance, window, threshold)', async (t) => {
      const s = await setup(t);
      const r = ref();
      const claims = await Promise.all(Array.from({ length: 10 }, () => s.claimAlert(r, 0.8)));
      assert.equal(claims.filter(Boolean).length, 1);
      assert.equal(await s.claimAlert(r, 0.8), false);
      assert.equal(await s.claimAlert(r, 1), true, 'another threshold');
      assert.equal(await s.claimAlert(ref({ instance: 'k2' }), 0.8), true, 'another instance');
      assert.equal(await s.claimAlert(ref({ window: dayWindow(16) }), 0.8), true, 'another window');
      assert.equal(await s.claimAlert(ref({ budget: 'other' }), 0.8), true, 'another budget');
    });

    test('names and instances with `:` and unicode neither collide nor change', async (t) => {
      const s = await setup(t);
      const a = ref({ budget: 'a:b', instance: 'c', limitPico: 100 });
      const b = ref({ budget: 'a', instance: 'b:c', limitPico: 100 });
      const u = ref({ budget: 'бюджет 💸', instance: 'ключ:{x}%3A', limitPico: 100 });
      await s.admit([a], rid(), [amt(100)], T0, TTL);
      assert.deepEqual(await s.state([a, b, u], T0), [st(0, 100), st(0, 0), st(0, 0)]);
      assert.equal((await s.admit([b], rid(), [amt(100)], T0, TTL)).admitted, true);
      assert.equal((await s.admit([u], rid(), [amt(100)], T0, TTL)).admitted, true);
      assert.deepEqual(await s.instances('a', 'b:c'), [], 'no collision through the window id either');
      assert.deepEqual(await s.instances('a', dayWindow().id), ['b:c']);
      assert.deepEqual(await s.instances('бюджет 💸', dayWindow().id), ['ключ:{x}%3A']);
      assert.equal(await s.claimAlert(a, 0.5), true);
      assert.equal(await s.claimAlert(b, 0.5), true);
    });

    test('pico amounts near 2^50 stay exact through reserve, settle and the limit check', async (t) => {
      const s = await setup(t);
      const big = 2 ** 50 + 3; // 16 significant digits: float32 or "%.14g" formatting would corrupt it
      const r = ref({ limitPico: 2 * big + 1 });
      const a = rid();
      assert.deepEqual((await s.admit([r], a, [amt(big)], T0, TTL)).states, [st(0, big)]);
      assert.deepEqual((await s.settle([r], a, [amt(big + 1)], T0)).after, [st(big + 1, 0)]);
      assert.deepEqual(await s.admit([r], rid(), [amt(big + 1)], T0, TTL), {
        admitted: false,
        refusedBy: 0,
        fitsUnreserved: false,
        states: [st(big + 1, 0)],
      });
      assert.deepEqual((await s.admit([r], rid(), [amt(big)], T0, TTL)).states, [st(big + 1, big)], 'exactly at the limit');
      assert.equal((await s.admit([r], rid(), [amt(1)], T0, TTL)).admitted, false);
      const rolling = ref({ budget: 'roll', window: rollingWindow(HOUR, MIN), limitPico: null });
      await s.settle([rolling], rid(), [amt(big)], T0);
      await s.settle([rolling], rid(), [amt(big + 2)], T0 + MIN);
      assert.deepEqual(await s.state([rolling], T0 + MIN), [st(2 * big + 2, 0)]);
    });

    test('limits above 2^53 pico ($9,007) work: a $20,000 budget admits up to its limit', async (t) => {
      const s = await setup(t);
      const limit = 20_000 * 1e12; // 2e16: past 2^53, a multiple of the 4-pico ulp there
      const r = ref({ limitPico: limit });
      const spent = limit - 4_000_000;
      for (const part of [9e15, 9e15, spent - 18e15]) await s.settle([r], rid(), [amt(part)], T0); // amounts < 2^53
      assert.deepEqual(await s.state([r], T0), [st(spent, 0)]);
      assert.equal((await s.admit([r], rid(), [amt(4_000_004)], T0, TTL)).admitted, false);
      assert.deepEqual((await s.admit([r], rid(), [amt(4_000_000)], T0, TTL)).states, [st(spent, 4_000_000)]);
      assert.equal((await s.admit([r], rid(), [amt(4)], T0, TTL)).admitted, false);
    });

    test('refs in different currencies: each reserves, is checked against and settles its own amount', async (t) => {
      const s = await setup(t);
      const usd = ref({ budget: 'usd', currency: 'USD', limitPico: 1_000 });
      const cny = ref({ budget: 'cny', currency: 'CNY', limitPico: 7_100 });
      const a = rid();
      assert.deepEqual(await s.admit([usd, cny], a, [amt(600, 3), amt(4_260, 3)], T0, TTL), {
        admitted: true,
        refusedBy: -1,
        fitsUnreserved: true,
        states: [st(0, 600, 0, 3), st(0, 4_260, 0, 3)],
      });
      // 400 fits the USD ref exactly; 2,841 is one pico-CNY past the CNY ref: the CNY ref refuses, by its own amount.
      const over = await s.admit([usd, cny], rid(), [amt(400), amt(2_841)], T0, TTL);
      assert.deepEqual(over, { admitted: false, refusedBy: 1, fitsUnreserved: true, states: [st(0, 600, 0, 3), st(0, 4_260, 0, 3)] });
      assert.equal((await s.admit([usd, cny], rid(), [amt(401), amt(0)], T0, TTL)).refusedBy, 0, 'and the USD ref by its own');
      const settled = await s.settle([usd, cny], a, [amt(700, 4), amt(4_970, 4)], T0 + 1);
      assert.deepEqual(
        settled.after,
        [st(700, 0, 4, 0), st(4_970, 0, 4, 0)],
        'each ref released its own reservation and counted its own spend',
      );
      assert.deepEqual((await s.admit([usd, cny], rid(), [amt(300), amt(2_130)], T0 + 2, TTL)).states, [
        st(700, 300, 4, 0),
        st(4_970, 2_130, 4, 0),
      ]);
    });

    test('a cost billed in USD counts on a CNY ref converted exactly, half to even (USD_CNY 7.1), with no drift over many settles', async (t) => {
      const s = await setup(t);
      const rates = new ExchangeRates({ USD_CNY: 7.1 });
      const usd = ref({ budget: 'usd', currency: 'USD', limitPico: null });
      const cny = ref({ budget: 'cny', currency: 'CNY', limitPico: null });
      const billed = (pico: number): Cost => ({ money: { currency: 'USD', pico }, tokens: 1 });
      const amounts = (c: Cost) => [usd, cny].map((r) => amountIn(c, r, rates) as Amount);
      // 5 × 7.1 = 35.5 → 36 and 15 × 7.1 = 106.5 → 106 (ties go to the even neighbour): 20 settles sum to 7.1 × 200 exactly.
      assert.deepEqual(amounts(billed(5)), [amt(5, 1), amt(36, 1)]);
      assert.deepEqual(amounts(billed(15)), [amt(15, 1), amt(106, 1)]);
      for (let i = 0; i < 10; i++) {
        await s.settle([usd, cny], rid(), amounts(billed(5)), T0 + i);
        await s.settle([usd, cny], rid(), amounts(billed(15)), T0 + i);
      }
      assert.deepEqual(await s.state([usd, cny], T0 + 10), [st(200, 0, 20, 0), st(1_420, 0, 20, 0)]);
      // Large amounts stay exact too: (2^50 + 3) × 7.1 is past 2^52, still an exact safe integer.
      const big = 2 ** 50 + 3;
      const [, bigCny] = amounts(billed(big));
      assert.equal(bigCny?.pico, Number((BigInt(big) * 71n) / 10n) + 1); // .7 rounds up: no tie
      await s.settle([usd, cny], rid(), amounts(billed(big)), T0 + 11);
      assert.deepEqual(await s.state([usd, cny], T0 + 11), [st(200 + big, 0, 21, 0), st(1_420 + (bigCny?.pico ?? 0), 0, 21, 0)]);
      // And back: a CNY bill on a USD ref divides by 7.1 (= × 10/71), half to even.
      const yuan: Cost = { money: { currency: 'CNY', pico: 71 * 3 + 35 }, tokens: 0 }; // 248 × 10 / 71 = 34.93 → 35
      assert.deepEqual(amountIn(yuan, usd, rates), amt(35, 0));
      assert.equal(amountIn(yuan, ref({ currency: 'EUR' }), rates), null, 'no rate: no amount, never a guess');
    });

    test('invalid calls are rejected and change nothing', async (t) => {
      const s = await setup(t);
      const r = ref();
      await assert.rejects(s.admit([r], rid(), [amt(1.5)], T0, TTL), RangeError);
      await assert.rejects(s.admit([r], rid(), [amt(-1)], T0, TTL), RangeError);
      await assert.rejects(s.admit([r], '', [amt(1)], T0, TTL), RangeError);
      await assert.rejects(s.admit([r], rid(), [amt(1)], T0, 0), RangeError);
      await assert.rejects(s.admit([r, { ...r }], rid(), [amt(1), amt(1)], T0, TTL), RangeError, 'duplicate refs');
      await assert.rejects(s.admit([ref({ limitPico: 0.5 })], rid(), [amt(1)], T0, TTL), RangeError);
      await assert.rejects(s.admit([ref({ limitTokens: -1 })], rid(), [amt(1)], T0, TTL), RangeError);
      await assert.rejects(s.admit([r], rid(), [amt(2 ** 53)], T0, TTL), RangeError, 'amounts must be safe integers');
      await assert.rejects(s.admit([r], rid(), [], T0, TTL), RangeError, 'one amount per ref');
      await assert.rejects(s.admit([r], rid(), [amt(1), amt(1)], T0, TTL), RangeError, 'one amount per ref');
      await assert.rejects(s.settle([r], rid(), [], T0), RangeError, 'one actual amount per ref');
      await assert.rejects(s.admit([ref({ currency: 'usd' })], rid(), [amt(1)], T0, TTL), RangeError, 'an ISO 4217 currency');
      await assert.rejects(s.settle([r], rid(), [amt(1, 0.5)], T0), RangeError);
      await assert.rejects(s.discard([r], '', T0), RangeError);
      await assert.rejects(s.discard([r, { ...r }], rid(), T0), RangeError, 'duplicate refs');
      await assert.rejects(s.state([r], -1), RangeError);
      assert.deepEqual(await s.state([r], T0), [st(0, 0)]);
      assert.deepEqual(await s.admit([], rid(), [], T0, TTL), { admitted: true, refusedBy: -1, fitsUnreserved: true, states: [] });
    });
  });
}
