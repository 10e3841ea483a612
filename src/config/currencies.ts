/**
 * Config checks across sections for currencies: every `exchange_rates` entry is usable, and
 * every budget has a rate for each currency its traffic can be billed in. Without one, spend
 * billed in that currency could not be counted on the budget, and an unknown amount is never 0.
 */
import { budgetCurrency } from '../budget/catalog.ts';
import { ExchangeRates, rateProblem } from '../core/currency.ts';
import type { ConfigBody } from './defaults.ts';
import { joinIndex, joinKey } from './errors.ts';
import type { Issue } from './walk.ts';

/** A rate must name two ISO 4217 codes (`USD_CNY`) and be an exact decimal (at most 6 places). */
export function rateIssue(c: ConfigBody): Issue | undefined {
  for (const [pair, rate] of Object.entries(c.exchange_rates)) {
    const problem = rateProblem(pair, rate);
    if (problem !== undefined) return { keyPath: joinKey('exchange_rates', pair), reason: problem };
  }
  return undefined;
}

/**
 * The upstreams a budget sees (those its `match.upstream` names, else all: the default
 * `upstream` and each of `upstreams`) each bill in their `billing.currency`; the budget counts
 * in its own (`budgetCurrency`). Each pair that differs needs a rate, in either direction.
 * Run after rateIssue: the rates are valid by then.
 */
export function budgetRateIssue(c: ConfigBody): Issue | undefined {
  const rates = new ExchangeRates(c.exchange_rates);
  const upstreams = [c.upstream, ...c.upstreams];
  for (const [i, b] of c.budgets.entries()) {
    const seen = b.match.upstream.length === 0 ? upstreams : upstreams.filter((u) => b.match.upstream.includes(u.name));
    const counts = budgetCurrency(b);
    for (const u of seen) {
      const billed = u.billing.currency;
      if (rates.has(billed, counts)) continue;
      const at = joinIndex('budgets', i);
      const tokensOnly = b.limit_usd === null && b.limit === null ? ' (a tokens-only budget counts its spend in USD)' : '';
      return {
        keyPath: b.currency !== null ? joinKey(at, 'currency') : at,
        reason:
          `budget '${b.name}' counts ${counts}${tokensOnly} but upstream '${u.name}' bills ${billed}: ` +
          `add exchange_rates.${billed}_${counts} (or ${counts}_${billed})${b.match.upstream.length === 0 ? ', or limit the budget with match.upstream' : ''}`,
      };
    }
  }
  return undefined;
}
