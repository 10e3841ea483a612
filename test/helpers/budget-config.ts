import type { BudgetConfig } from '../../src/budget/types.ts';
import { BUDGET_DEFAULTS } from '../../src/config/defaults.ts';

/** A budget with the config defaults filled, as the loader would produce it. */
export function budget(b: Partial<BudgetConfig> & Pick<BudgetConfig, 'name'>): BudgetConfig {
  return {
    ...(BUDGET_DEFAULTS as Omit<BudgetConfig, 'name'>),
    ...b,
    match: { key: [], tag: [], model: [], path: [], upstream: [], ...b.match },
  };
}
