/**
 * A worker's side of the cluster: its /metrics answered by the primary's aggregate, its
 * listening address reported, and the forecast loop's results shared from the worker that
 * runs the loop (slot 1) to the others.
 */
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { ForecastService } from '../forecast/service.ts';
import { ours, type PrimaryMessage, type WorkerMessage } from './messages.ts';

/** The first worker runs the forecast loop; restarted, it takes slot 1 again. */
export const LOOP_SLOT = 1;

export interface WorkerLink {
  /** 1..N. */
  readonly slot: number;
  /** Whether this worker runs the forecast loop (the others adopt its results). */
  readonly runsForecastLoop: boolean;
  /** Every worker's metrics, aggregated by the primary (prom-client's AggregatorRegistry). */
  scrape(): Promise<string>;
  /** Hands prom-client the registry it reports when the primary collects. */
  exposeMetrics(registry: Registry): void;
  listening(addr: AddressInfo): void;
  shareForecasts(forecasts: ForecastService): void;
}

export function connectWorker(slot: number): WorkerLink {
  const send = (m: WorkerMessage): void => {
    // The channel closes when the primary has gone: nothing left to tell it.
    if (process.connected) process.send?.(m);
  };
  const pending = new Map<number, { ok(body: string): void; fail(err: Error): void }>();
  let next = 0;
  process.on('message', (raw: unknown) => {
    const m = ours<PrimaryMessage>(raw);
    if (m?.type !== 'cm:scraped') return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if ('body' in m) p?.ok(m.body);
    else p?.fail(new Error(m.error));
  });
  return {
    slot,
    runsForecastLoop: slot === LOOP_SLOT,
    scrape() {
      if (!process.connected) return Promise.reject(new Error('the primary process has gone'));
      const id = next++;
      return new Promise<string>((ok, fail) => {
        pending.set(id, { ok, fail });
        send({ type: 'cm:scrape', id });
      });
    },
    exposeMetrics(registry) {
      AggregatorRegistry.setRegistries([registry]);
      new AggregatorRegistry(); // installs the worker's answer to the primary's collection
    },
    listening(addr) {
      send({ type: 'cm:listening', address: addr.address, port: addr.port });
    },
    shareForecasts(forecasts) {
      if (slot === LOOP_SLOT) {
        forecasts.onPass(() => send({ type: 'cm:forecast', share: forecasts.share() }));
        return;
      }
      process.on('message', (raw: unknown) => {
        const m = ours<PrimaryMessage>(raw);
        if (m?.type === 'cm:forecast') forecasts.adopt(m.share);
      });
    },
  };
}
