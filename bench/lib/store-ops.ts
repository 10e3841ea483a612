/** IPC ops shared by the two meter children: CPU after the recorder drained, and what the store holds. */
import type { Recorder } from '../../src/store/recorder.ts';
import type { MeterStore } from '../../src/store/types.ts';
import type { Handler } from './child-runtime.ts';

const STARTED = Date.now();

export function storeOps(store: MeterStore, recorder: Recorder, kind: string): Record<string, Handler> {
  return {
    // Redis writes finish after the response; they belong to the request's CPU cost.
    cpu: async () => {
      await recorder.flush();
      return process.cpuUsage();
    },
    recorded: async () => {
      await recorder.flush();
      const rows = await store.query({ by: 'all', granularity: 'minute', from: STARTED - 60_000, to: Date.now() + 60_000 });
      return { kind, store: rows.reduce((n, r) => n + r.totals.requests, 0), recorder: recorder.stats() };
    },
    'last-record': async () => {
      await recorder.flush();
      return (await store.recent(1))[0] ?? null;
    },
  };
}
