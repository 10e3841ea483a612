/**
 * The biller of an upstream that bills the list price in USD (Anthropic's own API): the
 * billed amount is the list price itself, so a record's `billedPico` equals its `costPicoUsd`
 * and no second price is computed.
 */
import { USD } from '../core/money.ts';
import type { Bill, Biller, Pricer } from './types.ts';

export function listBiller(pricer: Pricer): Biller {
  return {
    currency: USD,
    bill(model, usage, ctx): Bill {
      const list = pricer.price(model, usage, ctx);
      return { ...list, currency: USD, billedPico: list.costPicoUsd, billedUnpriced: list.unpriced };
    },
  };
}
