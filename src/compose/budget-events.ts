import { picoToUsd } from '../core/money.ts';
import type { MeterMetrics } from '../metrics/registry.ts';
import type { AlertEvent } from '../alerts/types.ts';
import type { GateEvents } from '../budget/gate.ts';
import { instanceKey, OTHER } from '../metrics/labels.ts';

/** The gauges of one budget instance (a gauge cannot be summed into `other`: a folded instance has none). */
const INSTANCE_GAUGES = ['budgetSpent', 'budgetReserved', 'budgetWindow', 'budgetLimit', 'budgetOvershoot', 'exhaustion'] as const;

/** Gate events → budget metrics and threshold alerts. Kept apart so the gate knows neither prom-client nor webhooks. */
export function budgetEvents(metrics: MeterMetrics, alert: (e: AlertEvent) => void, now: () => number): GateEvents {
  const cap = metrics.labels.budgetInstance;
  return {
    onStates(budgets, refs, states) {
      refs.forEach((ref, i) => {
        const st = states[i];
        if (!st || !budgets[i]) return;
        if (cap.value(instanceKey(ref.budget, ref.instance)) === OTHER) return;
        const labels = { budget: ref.budget, budget_instance: ref.instance };
        metrics.budgetSpent.set(labels, picoToUsd(st.spentPico));
        metrics.budgetReserved.set(labels, picoToUsd(st.reservedPico));
        metrics.budgetWindow.set(labels, (ref.window.end - ref.window.start) / 1000);
        if (ref.limitPico !== null) {
          metrics.budgetLimit.set(labels, picoToUsd(ref.limitPico));
          metrics.budgetOvershoot.set(labels, picoToUsd(Math.max(0, st.spentPico - ref.limitPico)));
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
      const s = metrics.budgetSettledPico.get(key);
      if (s !== undefined) s.pico += BigInt(pico);
      else metrics.budgetSettledPico.set(key, { budget: budget.name, instance, pico: BigInt(pico) });
    },
    onDropped(_budgets, refs) {
      for (const ref of refs) {
        const labels = { budget: ref.budget, budget_instance: ref.instance };
        for (const g of INSTANCE_GAUGES) metrics[g].remove(labels);
        for (const quantile of ['p10', 'p50', 'p90']) metrics.projected.remove({ ...labels, quantile });
        const key = instanceKey(ref.budget, ref.instance);
        // Its place in the label goes back unless a settled counter still names it (counters never lose a series).
        if (!metrics.budgetSettledPico.has(key)) cap.release(key);
      }
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
        spent_usd: picoToUsd(st.spentPico),
        limit_usd: ref.limitPico === null ? null : picoToUsd(ref.limitPico),
        spent_tokens: st.spentTokens,
        limit_tokens: ref.limitTokens,
        at: new Date(now()).toISOString(),
      });
    },
  };
}
