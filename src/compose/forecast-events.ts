import { picoToUnits, USD } from '../core/money.ts';
import { budgetCurrency } from '../budget/catalog.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import { instanceKey, OTHER } from '../metrics/labels.ts';
import type { AlertEvent } from '../alerts/types.ts';
import { offenderJson, type ForecastEvents } from '../forecast/service.ts';
import { exportedIn } from './budget-events.ts';

/** Rolling window of scored projections per budget behind claude_meter_forecast_error. */
const ERROR_WINDOWS = 10;
const QUANTILES = ['p10', 'p50', 'p90'] as const;

/** A spike alert's rates in the budget's currency, and as `_usd` fields only when that is USD. */
function spikeRates(currency: string, ratePico: number, expectedPico: number) {
  const [rate, expected] = [picoToUnits(ratePico), picoToUnits(expectedPico)];
  const usd = currency === USD;
  return {
    currency,
    rate_per_hour: rate,
    expected_per_hour: expected,
    rate_usd_per_hour: usd ? rate : null,
    expected_usd_per_hour: usd ? expected : null,
  };
}

/** Forecast service events → metrics and spike alerts. */
export function forecastEvents(metrics: MeterMetrics, alert: (e: AlertEvent) => void): ForecastEvents {
  const errors = new Map<string, number[]>();
  return {
    onForecast(f) {
      if (metrics.labels.budgetInstance.value(instanceKey(f.budget.name, f.ref.instance)) === OTHER) return;
      const labels = { budget: f.budget.name, budget_instance: f.ref.instance };
      const currency = budgetCurrency(f.budget);
      exportedIn(metrics, f.ref, currency);
      if (f.status !== 'computed') {
        // Not computed: no projection series at all (a zero would read as a forecast of nothing).
        for (const quantile of QUANTILES) {
          metrics.projectedAmount.remove({ ...labels, quantile, currency });
          if (currency === USD) metrics.projected.remove({ ...labels, quantile });
        }
        metrics.exhaustion.remove(labels);
        return;
      }
      for (const quantile of QUANTILES) {
        const value = picoToUnits(f.live[quantile]);
        metrics.projectedAmount.set({ ...labels, quantile, currency }, value);
        // The `_usd` family: USD budgets only.
        if (currency === USD) metrics.projected.set({ ...labels, quantile }, value);
      }
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
        ...spikeRates(budgetCurrency(e.budget), e.ratePerHourPico, e.expectedPerHourPico),
        multiple: e.expectedPerHourPico > 0 ? e.ratePerHourPico / e.expectedPerHourPico : Number.POSITIVE_INFINITY,
        offender: offenderJson(e.offender),
        at: new Date(e.at).toISOString(),
      });
    },
  };
}
