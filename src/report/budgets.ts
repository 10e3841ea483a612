import { picoToUnits, USD } from '../core/money.ts';
import { budgetCurrency, type BudgetCatalog } from '../budget/catalog.ts';
import type { BudgetConfig, BudgetLedger, InstanceRef, InstanceState } from '../budget/types.ts';

/**
 * One row of GET /_meter/budgets. Money is in the budget's `currency`: `limit`, `spent`,
 * `reserved` and `remaining`. The `*_usd` fields are the same amounts for a USD budget and
 * null for a budget in another currency, so yuan are never read as dollars; `limit_usd` (and
 * `limit`) is also null when the budget has no money limit.
 */
export interface BudgetInstanceReport {
  budget: string;
  scope: string;
  instance: string;
  action: string;
  window: { spec: string; id: string; start: string; end: string };
  /** ISO 4217 code of every money field of this row (USD for `limit_usd` and token-only budgets). */
  currency: string;
  limit: number | null;
  spent: number;
  reserved: number;
  remaining: number | null;
  limit_usd: number | null;
  spent_usd: number | null;
  reserved_usd: number | null;
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
      if (st) out.push(budgetRow(b, ref, st));
    });
  }
  return out;
}

/** One instance's row: its ref (window, limits) and state as the ledger has them, in the budget's currency. */
export function budgetRow(b: BudgetConfig, ref: InstanceRef, st: InstanceState): BudgetInstanceReport {
  const used = Math.max(
    ref.limitPico ? (st.spentPico + st.reservedPico) / ref.limitPico : 0,
    ref.limitTokens ? (st.spentTokens + st.reservedTokens) / ref.limitTokens : 0,
  );
  const first = b.alert_at[0] ?? 0.8;
  const currency = budgetCurrency(b);
  const limit = ref.limitPico === null ? null : picoToUnits(ref.limitPico);
  const spent = picoToUnits(st.spentPico);
  const reserved = picoToUnits(st.reservedPico);
  const remaining = ref.limitPico === null ? null : picoToUnits(Math.max(0, ref.limitPico - st.spentPico - st.reservedPico));
  const usd = currency === USD;
  return {
    budget: ref.budget,
    scope: b.scope,
    instance: ref.instance,
    action: b.action,
    window: {
      spec: b.window,
      id: ref.window.id,
      start: new Date(ref.window.start).toISOString(),
      end: new Date(ref.window.end).toISOString(),
    },
    currency,
    limit,
    spent,
    reserved,
    remaining,
    limit_usd: usd ? limit : null,
    spent_usd: usd ? spent : null,
    reserved_usd: usd ? reserved : null,
    remaining_usd: usd ? remaining : null,
    limit_tokens: ref.limitTokens,
    spent_tokens: st.spentTokens,
    reserved_tokens: st.reservedTokens,
    remaining_tokens: ref.limitTokens === null ? null : Math.max(0, ref.limitTokens - st.spentTokens - st.reservedTokens),
    status: used >= 1 ? 'exhausted' : used >= first ? 'warning' : 'ok',
  };
}
