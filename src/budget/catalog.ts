import { usdToPico } from '../core/money.ts';
import type { Pricer } from '../pricing/types.ts';
import type { BudgetConfig, InstanceRef, WindowSpec } from './types.ts';
import { parseWindow, windowAt } from './windows.ts';

/** A configured budget with its window parsed once, at load or reload. */
interface ParsedBudget {
  config: BudgetConfig;
  spec: WindowSpec;
  /**
   * The refs handed out in the current calendar window, by scope value: a request gets the same
   * (frozen) object as the last one on its instance, so what is derived from a ref (its store
   * key) is derived once. Bounded: cleared when full.
   */
  refs: Map<string, InstanceRef>;
}

/** Refs kept per budget for reuse (scope values: keys, tags, models, upstreams). */
const MAX_INTERNED = 4_096;

/** The request fields that decide which budget instances it touches. */
export interface BudgetMatch {
  keyId: string;
  tag: string;
  model: string | null;
  path: string;
  /** The name of the upstream the request goes to (`match.upstream`, `scope: per_upstream`). */
  upstream: string;
}

/**
 * The configured budgets and which instances a request touches. Shared by the gate (admission)
 * and the forecast service (projections), so a config reload swaps one list for both.
 */
export class BudgetCatalog {
  #budgets: ParsedBudget[] = [];
  readonly #pricer: () => Pricer;

  /** `pricer` is a getter: pricing can be reloaded with the config (match.model compares canonical ids). */
  constructor(budgets: readonly BudgetConfig[], pricer: () => Pricer) {
    this.#pricer = pricer;
    this.setBudgets(budgets);
  }

  /** Swap the budget list (config reload). In-flight requests keep the refs they were admitted with. */
  setBudgets(budgets: readonly BudgetConfig[]): void {
    this.#budgets = budgets.map((config) => ({ config, spec: parseWindow(config.window, config.timezone), refs: new Map() }));
  }

  /** False when no budget is configured. */
  get active(): boolean {
    return this.#budgets.length > 0;
  }

  get budgets(): readonly BudgetConfig[] {
    return this.#budgets.map((b) => b.config);
  }

  find(name: string): BudgetConfig | undefined {
    return this.#budgets.find((b) => b.config.name === name)?.config;
  }

  /** The instances a request touches right now, with the window they are in. */
  refsFor(req: BudgetMatch, now: number): { refs: InstanceRef[]; budgets: BudgetConfig[] } {
    const canonical = (m: string): string => this.#pricer().resolve(m) ?? m;
    const model = req.model === null ? 'unknown' : canonical(req.model);
    const refs: InstanceRef[] = [];
    const budgets: BudgetConfig[] = [];
    for (const parsed of this.#budgets) {
      if (!matches(parsed.config, req, model, canonical)) continue;
      refs.push(interned(parsed, instanceOf(parsed.config, req, model), now));
      budgets.push(parsed.config);
    }
    return { refs, budgets };
  }

  /**
   * The instances `model` selects that `held` (a request's refs, taken while its model was
   * unknown) lacks: its per_model instance and the budgets whose match.model names it. A request
   * the proxy could not read but the upstream could settles against these too, so a
   * model-scoped budget counts every response of its model.
   */
  refsForModel(
    req: BudgetMatch,
    model: string,
    held: readonly InstanceRef[],
    now: number,
  ): { refs: InstanceRef[]; budgets: BudgetConfig[] } {
    const have = new Set(held.map((r) => `${r.budget}\n${r.instance}`));
    const all = this.refsFor({ ...req, model }, now);
    const refs: InstanceRef[] = [];
    const budgets: BudgetConfig[] = [];
    all.refs.forEach((r, i) => {
      if (have.has(`${r.budget}\n${r.instance}`)) return;
      refs.push(r);
      budgets.push(all.budgets[i] as BudgetConfig);
    });
    return { refs, budgets };
  }

  /** The ref of one instance of a configured budget (for reports and forecasts). */
  instanceRef(b: BudgetConfig, instance: string, now: number): InstanceRef {
    const parsed = this.#budgets.find((x) => x.config === b);
    return parsed === undefined ? ref(b, parseWindow(b.window, b.timezone), instance, now) : interned(parsed, instance, now);
  }
}

/** The currency a budget's limit and spend are counted in: `currency` with `limit`, USD with `limit_usd` or tokens only. */
export function budgetCurrency(b: BudgetConfig): string {
  return b.limit !== null && b.currency !== null ? b.currency : 'USD';
}

/** The limit in the budget's currency: `limit_usd`, or `limit` (with `currency`); null for a tokens-only budget. */
function moneyLimit(b: BudgetConfig): number | null {
  if (b.limit_usd !== null) return b.limit_usd;
  return b.limit !== null && b.currency !== null ? b.limit : null;
}

/** The budget's ref for `instance` at `now`: the one handed out before while its window lasts (calendar windows). */
function interned(parsed: ParsedBudget, instance: string, now: number): InstanceRef {
  const window = windowAt(parsed.spec, now);
  const hit = parsed.refs.get(instance);
  if (hit !== undefined && hit.window === window) return hit;
  const r = Object.freeze(ref(parsed.config, parsed.spec, instance, now, window));
  if (window.rollingMs !== null) return r; // a rolling window moves with every request
  if (parsed.refs.size >= MAX_INTERNED) parsed.refs.clear();
  parsed.refs.set(instance, r);
  return r;
}

function ref(b: BudgetConfig, spec: WindowSpec, instance: string, now: number, window = windowAt(spec, now)): InstanceRef {
  const limit = moneyLimit(b);
  return {
    budget: b.name,
    instance,
    window,
    currency: budgetCurrency(b),
    // Config limits have at most 6 decimals (validated): exact in pico-units of any currency.
    limitPico: limit === null ? null : usdToPico(limit),
    limitTokens: b.limit_tokens,
    enforce: b.action !== 'shadow',
  };
}

/** The scope value of the instance a request counts on. */
function instanceOf(b: BudgetConfig, req: BudgetMatch, model: string): string {
  switch (b.scope) {
    case 'global':
      return '*';
    case 'per_key':
      return req.keyId;
    case 'per_tag':
      return req.tag || 'untagged';
    case 'per_model':
      return model;
    case 'per_upstream':
      return req.upstream;
  }
}

/** `match.model` entries may be aliases: both sides are compared as canonical ids. */
function matches(b: BudgetConfig, req: BudgetMatch, model: string, canonical: (m: string) => string): boolean {
  const m = b.match;
  if (m.key.length > 0 && !m.key.includes(req.keyId)) return false;
  if (m.tag.length > 0 && !m.tag.includes(req.tag)) return false;
  if (m.model.length > 0 && !m.model.some((x) => canonical(x) === model)) return false;
  if (m.path.length > 0 && !m.path.some((p) => req.path === p || req.path.startsWith(`${p}?`))) return false;
  if (m.upstream.length > 0 && !m.upstream.includes(req.upstream)) return false;
  return true;
}
