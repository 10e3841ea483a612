import { MemoryStore } from '../../../src/store/memory-store.ts';
import { TestClock } from '../../contract/fixtures.ts';
import { runMeterStoreContract } from '../../contract/meter-store.contract.ts';

runMeterStoreContract('MemoryStore', async (opts) => {
  const clock = new TestClock();
  const store = new MemoryStore({ clock, ...opts });
  return {
    store,
    clock,
    elapse: async (ms) => clock.advance(ms),
    cleanup: () => store.close(),
  };
});
