/**
 * Shared pieces of the three budget store contracts (budget-store-ledger, -pace and -forecast),
 * each run against every adapter (memory, Redis, Redis Cluster). Time is only ever the `now`
 * argument, so tests jump it freely; key TTLs in Redis are relative and a day long, so nothing
 * expires for real during a test.
 */
import type { InstanceRef, InstanceState, WindowInstance } from '../../src/budget/types.ts';
import { DAY, T0 } from './fixtures.ts';

/** One adapter under test, seen through the interface a contract checks. */
export interface StoreHarness<S> {
  store: S;
  cleanup(): Promise<void>;
}
export type MakeStore<S> = () => Promise<StoreHarness<S>>;

/** A calendar day window containing T0 (2025-01-15). */
export function dayWindow(day = 15): WindowInstance {
  const start = Date.UTC(2025, 0, day);
  return { id: `2025-01-${day}`, start, end: start + DAY, segmentMs: DAY, rollingMs: null };
}

/** A rolling window as seen at `now` (the store only reads rollingMs, segmentMs and id). */
export function rollingWindow(ms: number, segmentMs: number, now: number = T0): WindowInstance {
  return { id: 'rolling', start: now - ms, end: now, segmentMs, rollingMs: ms };
}

export function ref(over: Partial<InstanceRef> = {}): InstanceRef {
  return { budget: 'b', instance: '*', window: dayWindow(), currency: 'USD', limitPico: 1_000, limitTokens: null, enforce: true, ...over };
}

export const st = (spentPico: number, reservedPico: number, spentTokens = 0, reservedTokens = 0): InstanceState => ({
  spentPico,
  reservedPico,
  spentTokens,
  reservedTokens,
});

export const amt = (pico: number, tokens = 0) => ({ pico, tokens });
/** Reservation ttl for tests that do not exercise expiry. */
export const TTL = 60_000;

/** A per-test store, cleaned up with the test, and fresh reservation ids. */
export function storeSetup<S>(make: MakeStore<S>): { setup(t: { after(fn: () => unknown): void }): Promise<S>; rid(): string } {
  let seq = 0;
  return {
    async setup(t) {
      const h = await make();
      t.after(() => h.cleanup());
      return h.store;
    },
    rid: () => `req-${++seq}`,
  };
}
