/**
 * A request's cost as its upstream bills it, and the amount each budget instance counts of it:
 * money in the instance's currency, converted once, exactly (core/currency.ts: one integer
 * multiply and divide, rounded half to even), and tokens, which need no conversion.
 */
import type { ExchangeRates } from '../core/currency.ts';
import type { Bill } from '../pricing/types.ts';
import type { Amount, Cost, InstanceRef } from './types.ts';

/** A bill as a budget counts it: an unpriced bill counts no money (its cost is unknown, never 0), tokens still count. */
export function billedCost(bill: Bill, tokens: number): Cost {
  return { money: bill.billedUnpriced ? null : { currency: bill.currency, pico: bill.billedPico }, tokens };
}

/**
 * `cost` in `ref`'s currency, or null when no rate converts the billed currency into it (the
 * config check refuses such a config; only a reload racing a request can get here).
 * A converted amount past 2^53 pico is held at 2^53 − 1: it then exceeds any limit the ledger
 * compares exactly, so it is refused rather than wrapped (one request worth 9,007 units).
 */
export function amountIn(cost: Cost, ref: InstanceRef, rates: ExchangeRates): Amount | null {
  const m = cost.money;
  if (m === null || m.pico === 0 || m.currency === ref.currency) return { pico: m?.pico ?? 0, tokens: cost.tokens };
  if (!rates.has(m.currency, ref.currency)) return null;
  const pico = rates.convert(m.pico, m.currency, ref.currency);
  return { pico: pico ?? Number.MAX_SAFE_INTEGER, tokens: cost.tokens };
}
