import type { BudgetGate } from './gate.ts';
import type { InstanceRef, InstanceState } from './types.ts';

/** One row of GET /_meter/budgets. */
export interface BudgetInstanceReport {
  budget: string;
  scope: string;
  instance: string;
  action: string;
  window: { spec: string; id: string; start: string; end: string };
  limit_usd: number | null;
  spent_usd: number;
  reserved_usd: number;
  remaining_usd: number | null;
  limit_tokens: number | null;
  spent_tokens: number;
  reserved_tokens: number;
  remaining_tokens: number | null;
  /** ok | warning (past the first alert threshold) | exhausted */
  status: 'ok' | 'warning' | 'exhausted';
}

/** Every budget instance in its current window: global budgets always, per_* ones that have state. */
export async function budgetsReport(gate: BudgetGate, now: number): Promise<BudgetInstanceReport[]> {
  const out: BudgetInstanceReport[] = [];
  for (const b of gate.budgets) {
    // The template gives the current window and limits; instance values come from the store's listing.
    const template = gate.instanceRef(b, '*', now);
    const instances = b.scope === 'global' ? ['*'] : await gate.store.instances(b.name, template.window.id);
    const refs: InstanceRef[] = instances.map((i) => ({ ...template, instance: i }));
    const states = refs.length > 0 ? await gate.store.state(refs, now) : [];
    refs.forEach((ref, i) => {
      const st = states[i];
      if (st) out.push(row(b.scope, b.action, b.window, b.alert_at, ref, st));
    });
  }
  return out;
}

function row(scope: string, action: string, spec: string, alertAt: readonly number[], ref: InstanceRef, st: InstanceState): BudgetInstanceReport {
  const used = Math.max(
    ref.limitPico ? (st.spentPico + st.reservedPico) / ref.limitPico : 0,
    ref.limitTokens ? (st.spentTokens + st.reservedTokens) / ref.limitTokens : 0,
  );
  const first = alertAt[0] ?? 0.8;
  return {
    budget: ref.budget,
    scope,
    instance: ref.instance,
    action,
    window: { spec, id: ref.window.id, start: new Date(ref.window.start).toISOString(), end: new Date(ref.window.end).toISOString() },
    limit_usd: ref.limitPico === null ? null : ref.limitPico / 1e12,
    spent_usd: st.spentPico / 1e12,
    reserved_usd: st.reservedPico / 1e12,
    remaining_usd: ref.limitPico === null ? null : Math.max(0, ref.limitPico - st.spentPico - st.reservedPico) / 1e12,
    limit_tokens: ref.limitTokens,
    spent_tokens: st.spentTokens,
    reserved_tokens: st.reservedTokens,
    remaining_tokens: ref.limitTokens === null ? null : Math.max(0, ref.limitTokens - st.spentTokens - st.reservedTokens),
    status: used >= 1 ? 'exhausted' : used >= first ? 'warning' : 'ok',
  };
}
