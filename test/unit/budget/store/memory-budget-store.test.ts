/** MemoryBudgetStore: the three store contracts, plus its memory bound (expired state is dropped). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBudgetStore } from '../../../../src/budget/store/memory-budget-store.ts';
import { dayWindow, ref, rollingWindow } from '../../../contract/budget-store-fixtures.ts';
import { runBudgetLedgerContract } from '../../../contract/budget-store-ledger.contract.ts';
import { runBudgetLeaseContract } from '../../../contract/budget-store-lease.contract.ts';
import { runPaceBucketsContract } from '../../../contract/budget-store-pace.contract.ts';
import { runForecastStoreContract } from '../../../contract/budget-store-forecast.contract.ts';
import { DAY, HOUR, MIN, T0 } from '../../../contract/fixtures.ts';

const memory = async () => {
  const store = new MemoryBudgetStore();
  return { store, cleanup: () => store.close() };
};
runBudgetLedgerContract('MemoryBudgetStore', memory);
runBudgetLeaseContract('MemoryBudgetStore', memory);
runPaceBucketsContract('MemoryBudgetStore', memory);
runForecastStoreContract('MemoryBudgetStore', memory);

test('MemoryBudgetStore drops instances, listings and alert claims once their window + 1 day has passed', async () => {
  const s = new MemoryBudgetStore();
  for (let day = 1; day <= 60; day++) {
    const now = Date.UTC(2025, 0, 1) + (day - 1) * DAY + HOUR;
    const w = { ...dayWindow(1), id: `d${day}`, start: now - HOUR, end: now - HOUR + DAY };
    for (const instance of ['k1', 'k2', 'k3']) {
      await s.admit([ref({ instance, window: w })], `r${day}${instance}`, [{ pico: 1, tokens: 0 }], now, MIN);
      await s.claimAlert(ref({ instance, window: w }), 0.5);
    }
  }
  // Per day: 3 instances + 1 listing + 3 claims; only the last ~2-3 days may still be alive.
  assert.ok(s.entryCount <= 3 * 7, `entryCount ${s.entryCount}`);
  assert.deepEqual(await s.instances('b', 'd1'), []);
  assert.deepEqual(await s.instances('b', 'd60'), ['k1', 'k2', 'k3']);
});

test('MemoryBudgetStore: a rolling instance untouched for longer than its window + 1 day is dropped', async () => {
  const s = new MemoryBudgetStore();
  const r = ref({ window: rollingWindow(HOUR, MIN) });
  await s.settle([r], 'x', [{ pico: 5, tokens: 0 }], T0);
  assert.equal(s.entryCount, 2);
  await s.state([ref({ budget: 'other' })], T0 + HOUR + DAY);
  assert.equal(s.entryCount, 0);
});

test('MemoryBudgetStore rejects calls after close()', async () => {
  const s = new MemoryBudgetStore();
  await s.close();
  await assert.rejects(s.state([ref()], T0), /closed/);
});
