import { picoToUsd } from '../core/money.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import { instanceKey, OTHER } from '../metrics/labels.ts';
import type { AlertEvent } from '../alerts/types.ts';
import { offenderJson, type ForecastEvents } from '../forecast/service.ts';

/** Rolling window of scored projections per budget behind claude_meter_forecast_error. */
const ERROR_WINDOWS = 10;

/** Forecast service events → metrics and spike alerts. */
export function forecastEvents(metrics: MeterMetrics, alert: (e: AlertEvent) => void): ForecastEvents {
  const errors = new Map<string, number[]>();
  return {
    onForecast(f) {
      if (metrics.labels.budgetInstance.value(instanceKey(f.budget.name, f.ref.instance)) === OTHER) return;
      const labels = { budget: f.budget.name, budget_instance: f.ref.instance };
      metrics.projected.set({ ...labels, quantile: 'p10' }, picoToUsd(f.live.p10));
      metrics.projected.set({ ...labels, quantile: 'p50' }, picoToUsd(f.live.p50));
      metrics.projected.set({ ...labels, quantile: 'p90' }, picoToUsd(f.live.p90));
      if (f.live.exhaustionAt === null) metrics.exhaustion.remove(labels);
      else metrics.exhaustion.set(labels, Math.max(0, (f.live.exhaustionAt - f.updatedAt) / 1000));
    },
    onWindowClosed(budget, _instance, ape) {
      const list = errors.get(budget.name) ?? [];
      list.push(ape);
      if (list.length > ERROR_WINDOWS) list.shift();
      errors.set(budget.name, list);
      metrics.forecastError.set({ budget: budget.name }, list.reduce((a, b) => a + b, 0) / list.length);
    },
    onSpike(e) {
      metrics.spikes.inc({ budget: e.budget.name });
      alert({
        kind: 'spend_spike',
        budget: e.budget.name,
        instance: e.instance,
        rate_usd_per_hour: picoToUsd(e.ratePerHourPico),
        expected_usd_per_hour: picoToUsd(e.expectedPerHourPico),
        multiple: e.expectedPerHourPico > 0 ? e.ratePerHourPico / e.expectedPerHourPico : Number.POSITIVE_INFINITY,
        offender: offenderJson(e.offender),
        at: new Date(e.at).toISOString(),
      });
    },
  };
}
