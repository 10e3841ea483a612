/** IPC ops shared by the two meter children: CPU after the recorder drained, and what the store holds. */
import type { Recorder } from '../../src/store/recorder.ts';
import { TOKEN_KINDS } from '../../src/core/usage.ts';
import { emptyTotals, type MeterStore } from '../../src/store/types.ts';
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
    /** Every counter since the child started, summed over the store's hour buckets (cost as a decimal string: bigints do not cross IPC). */
    totals: async () => {
      await recorder.flush();
      const rows = await store.query({ by: 'all', granularity: 'hour', from: STARTED - 3_600_000, to: Date.now() + 60_000 });
      const t = emptyTotals();
      for (const { totals: r } of rows) {
        for (const k of ['requests', 'errors', 'partial', 'usageMissing', 'unpriced', 'webSearchRequests'] as const) t[k] += r[k];
        for (const k of TOKEN_KINDS) t.tokens[k] += r.tokens[k];
        t.costPicoUsd += r.costPicoUsd;
      }
      return { ...t, costPicoUsd: t.costPicoUsd.toString() };
    },
    'last-record': async () => {
      await recorder.flush();
      return (await store.recent(1))[0] ?? null;
    },
  };
}
