import { picoToUsd } from '../core/money.ts';
import type { BudgetCatalog } from '../budget/catalog.ts';
import type { BudgetLedger, InstanceRef, InstanceState } from '../budget/types.ts';

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

/**
 * Every budget instance in its current window: global budgets always, per_* ones that have state.
 * `source` is the gate (or anything with its catalog and ledger).
 */
export async function budgetsReport(
  source: { catalog: BudgetCatalog; ledger: Pick<BudgetLedger, 'instances' | 'state'> },
  now: number,
): Promise<BudgetInstanceReport[]> {
  const { catalog, ledger } = source;
  const out: BudgetInstanceReport[] = [];
  for (const b of catalog.budgets) {
    // The template gives the current window and limits; instance values come from the ledger's listing.
    const template = catalog.instanceRef(b, '*', now);
    const instances = b.scope === 'global' ? ['*'] : await ledger.instances(b.name, template.window.id);
    const refs: InstanceRef[] = instances.map((i) => ({ ...template, instance: i }));
    const states = refs.length > 0 ? await ledger.state(refs, now) : [];
    refs.forEach((ref, i) => {
      const st = states[i];
      if (st) out.push(row(b.scope, b.action, b.window, b.alert_at, ref, st));
    });
  }
  return out;
}

function row(
  scope: string,
  action: string,
  spec: string,
  alertAt: readonly number[],
  ref: InstanceRef,
  st: InstanceState,
): BudgetInstanceReport {
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
    limit_usd: ref.limitPico === null ? null : picoToUsd(ref.limitPico),
    spent_usd: picoToUsd(st.spentPico),
    reserved_usd: picoToUsd(st.reservedPico),
    remaining_usd: ref.limitPico === null ? null : picoToUsd(Math.max(0, ref.limitPico - st.spentPico - st.reservedPico)),
    limit_tokens: ref.limitTokens,
    spent_tokens: st.spentTokens,
    reserved_tokens: st.reservedTokens,
    remaining_tokens: ref.limitTokens === null ? null : Math.max(0, ref.limitTokens - st.spentTokens - st.reservedTokens),
    status: used >= 1 ? 'exhausted' : used >= first ? 'warning' : 'ok',
  };
}
