import { MemoryStore } from '../../../src/store/memory-store.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { T0 } from '../../contract/fixtures.ts';
import { runMeterStoreContract } from '../../contract/meter-store.contract.ts';

runMeterStoreContract('MemoryStore', async (opts) => {
  const clock = new ManualClock(T0);
  const store = new MemoryStore({ clock, ...opts });
  return {
    store,
    clock,
    elapse: (ms) => clock.advance(ms),
    cleanup: () => store.close(),
  };
});
