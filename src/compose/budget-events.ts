import { picoToUnits, USD } from '../core/money.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import type { AlertEvent } from '../alerts/types.ts';
import { budgetCurrency } from '../budget/catalog.ts';
import type { GateEvents } from '../budget/gate.ts';
import type { InstanceRef } from '../budget/types.ts';
import { instanceKey, OTHER } from '../metrics/labels.ts';

/** The gauges of one budget instance (a gauge cannot be summed into `other`: a folded instance has none). */
const INSTANCE_GAUGES = ['budgetSpent', 'budgetReserved', 'budgetWindow', 'budgetLimit', 'budgetOvershoot', 'exhaustion'] as const;
/** Those with a `currency` label as well. */
const AMOUNT_GAUGES = ['budgetSpentAmount', 'budgetReservedAmount', 'budgetLimitAmount', 'budgetOvershootAmount'] as const;

/**
 * Notes that an instance's amounts are exported in `currency` from now on; when they were in
 * another one (a reload changed the budget's currency), that currency's series go first.
 */
export function exportedIn(metrics: MeterMetrics, ref: Pick<InstanceRef, 'budget' | 'instance'>, currency: string): void {
  const key = instanceKey(ref.budget, ref.instance);
  const before = metrics.budgetCurrencies.get(key);
  if (before === currency) return;
  if (before !== undefined) removeInstance(metrics, ref, before);
  metrics.budgetCurrencies.set(key, currency);
}

/** Removes the gauges of one budget instance in one currency (the `_usd` ones too when it is USD). */
function removeInstance(metrics: MeterMetrics, ref: Pick<InstanceRef, 'budget' | 'instance'>, currency: string): void {
  const labels = { budget: ref.budget, budget_instance: ref.instance };
  for (const g of AMOUNT_GAUGES) metrics[g].remove({ ...labels, currency });
  for (const quantile of ['p10', 'p50', 'p90']) metrics.projectedAmount.remove({ ...labels, quantile, currency });
  if (currency !== USD) return;
  for (const g of ['budgetSpent', 'budgetReserved', 'budgetLimit', 'budgetOvershoot'] as const) metrics[g].remove(labels);
  for (const quantile of ['p10', 'p50', 'p90']) metrics.projected.remove({ ...labels, quantile });
}

/**
 * Gate events → budget metrics and threshold alerts. Kept apart so the gate knows neither prom-client nor webhooks.
 * Amounts are in each budget's currency: the `currency`-labelled gauges for every budget, the
 * `_usd` ones only for USD budgets.
 */
export function budgetEvents(metrics: MeterMetrics, alert: (e: AlertEvent) => void, now: () => number): GateEvents {
  const cap = metrics.labels.budgetInstance;
  return {
    onStates(budgets, refs, states) {
      refs.forEach((ref, i) => {
        const st = states[i];
        const b = budgets[i];
        if (!st || !b) return;
        const key = instanceKey(ref.budget, ref.instance);
        if (cap.value(key) === OTHER) return;
        const currency = budgetCurrency(b);
        exportedIn(metrics, ref, currency);
        const labels = { budget: ref.budget, budget_instance: ref.instance };
        const amounts = { ...labels, currency };
        const usd = currency === USD;
        const set = (plain: 'budgetSpent' | 'budgetReserved' | 'budgetLimit' | 'budgetOvershoot', pico: number) => {
          metrics[`${plain}Amount`].set(amounts, picoToUnits(pico));
          if (usd) metrics[plain].set(labels, picoToUnits(pico));
        };
        set('budgetSpent', st.spentPico);
        set('budgetReserved', st.reservedPico);
        metrics.budgetWindow.set(labels, (ref.window.end - ref.window.start) / 1000);
        if (ref.limitPico !== null) {
          set('budgetLimit', ref.limitPico);
          set('budgetOvershoot', Math.max(0, st.spentPico - ref.limitPico));
        }
      });
    },
    onShadowRefused(budget) {
      metrics.budgetShadowRefusals.inc({ budget: budget.name });
    },
    onStoreError(budget, allowed) {
      metrics.budgetStoreErrors.inc({ budget: budget.name, outcome: allowed ? 'allowed' : 'refused' });
    },
    onRefused(budget, cause) {
      metrics.budgetRefusals.inc({ budget: budget.name, cause });
    },
    onWaited(budget, outcome, seconds) {
      metrics.budgetAdmissionWait.observe({ budget: budget.name, outcome }, seconds);
    },
    onQueueDepth(budget, depth) {
      metrics.budgetQueueDepth.set({ budget }, depth);
    },
    onThrottled(budget, priority, outcome) {
      metrics.throttled.inc({ budget: budget.name, priority, outcome });
    },
    onSpent(budget, ref, pico) {
      // A counter sums: a folded instance adds to the budget's `other` series.
      const instance = cap.value(instanceKey(budget.name, ref.instance)) === OTHER ? OTHER : ref.instance;
      const key = instanceKey(budget.name, instance);
      const currency = budgetCurrency(budget);
      const s = metrics.budgetSettledPico.get(key);
      // A reload that changed the budget's currency starts a new series: amounts of two currencies never add up.
      if (s !== undefined && s.currency === currency) s.pico += BigInt(pico);
      else metrics.budgetSettledPico.set(key, { budget: budget.name, instance, currency, pico: BigInt(pico) });
    },
    onDropped(budgets, refs) {
      refs.forEach((ref, i) => {
        const labels = { budget: ref.budget, budget_instance: ref.instance };
        for (const g of INSTANCE_GAUGES) metrics[g].remove(labels);
        for (const quantile of ['p10', 'p50', 'p90']) metrics.projected.remove({ ...labels, quantile });
        const key = instanceKey(ref.budget, ref.instance);
        const b = budgets[i];
        for (const currency of new Set([metrics.budgetCurrencies.get(key), b === undefined ? undefined : budgetCurrency(b)]))
          if (currency !== undefined) removeInstance(metrics, ref, currency);
        metrics.budgetCurrencies.delete(key);
        // Its place in the label goes back unless a settled counter still names it (counters never lose a series).
        if (!metrics.budgetSettledPico.has(key)) cap.release(key);
      });
    },
    onSettled(budget, reserved, actual) {
      if (reserved.pico > 0) metrics.budgetReservationRatio.observe({ budget: budget.name }, actual.pico / reserved.pico);
    },
    onThreshold(budget, ref, threshold, st) {
      alert({
        kind: 'budget_threshold',
        budget: budget.name,
        instance: ref.instance,
        window: { id: ref.window.id, start: new Date(ref.window.start).toISOString(), end: new Date(ref.window.end).toISOString() },
        threshold,
        ...thresholdAmounts(budgetCurrency(budget), ref, st.spentPico),
        spent_tokens: st.spentTokens,
        limit_tokens: ref.limitTokens,
        at: new Date(now()).toISOString(),
      });
    },
  };
}

/** A threshold alert's money: in the budget's currency, and as `_usd` fields only when that is USD. */
function thresholdAmounts(
  currency: string,
  ref: InstanceRef,
  spentPico: number,
): { currency: string; spent: number; limit: number | null; spent_usd: number | null; limit_usd: number | null } {
  const spent = picoToUnits(spentPico);
  const limit = ref.limitPico === null ? null : picoToUnits(ref.limitPico);
  const usd = currency === USD;
  return { currency, spent, limit, spent_usd: usd ? spent : null, limit_usd: usd ? limit : null };
}
