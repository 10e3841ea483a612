/**
 * What one upstream bills for a request, in its own currency, beside the list price in USD.
 *
 *   list   = the list Pricer's result, unchanged (USD, always computed: reports compare upstreams by it)
 *   billed = the upstream's own row for the model (billing.pricing: rates in billing.currency per MTok)
 *            else list × list_price_factor, rounded ONCE per record, half to even (scaleHalfEven)
 *            else unpriced (factor null and no row): never 0.
 *
 * The factor is an exact decimal (≤ 6 places) held as a reduced fraction, so `billed` is one
 * integer multiply and divide of the list pico: a relay that sells "$1 of list price for ¥1" is
 * currency CNY, factor 1, and bills exactly the list figure in pico-CNY. An own row is priced by
 * the same arithmetic as the list (cost.ts: batch and US-geo multipliers, rounded half-up once),
 * in pico-units of the upstream's currency.
 *
 * Own rows resolve as list rows do: the request's model against the upstream's ids and aliases
 * (Bedrock/Vertex spellings normalised), then its list canonical id, so a row keyed
 * `claude-sonnet-4-5-20250929` also prices `claude-sonnet-4-5`. A row keyed by a list alias is
 * refused (as in pricing.models): which model it prices would depend on the list table.
 */
import { rationalFromScaled, scaleDecimal, type Rational } from '../core/decimal.ts';
import { scaleHalfEven } from '../core/currency.ts';
import { USD } from '../core/money.ts';
import type { Usage } from '../core/usage.ts';
import { readPricingFile } from './build.ts';
import { computeCost, selectRow } from './cost.ts';
import { PricingError, joinKey } from './errors.ts';
import { resolveModel } from './resolve.ts';
import { bundledPriceTable, mergeOverrides, parseOverrideFile } from './table.ts';
import type { Bill, Biller, BillingConfig, PriceContext, PriceResult, PriceTable, Pricer } from './types.ts';

/** Same bound as the config's check of list_price_factor. */
const MAX_FACTOR = 1_000_000_000;

/**
 * The list result with the billed fields, built field by field: `{ ...list, currency, … }` costs
 * several µs per call in Node 20 (measured), this a few ns. A PriceResult field added later must
 * be copied here too (the listBiller test compares the whole object).
 */
function toBill(list: PriceResult, currency: string, billedPico: number, billedUnpriced: boolean, billedProblem?: string): Bill {
  const b: Bill = {
    costPicoUsd: list.costPicoUsd,
    unpriced: list.unpriced,
    resolvedModel: list.resolvedModel,
    tier: list.tier,
    currency,
    billedPico,
    billedUnpriced,
  };
  if (list.cacheSavingsPicoUsd !== undefined) b.cacheSavingsPicoUsd = list.cacheSavingsPicoUsd;
  if (list.problem !== undefined) b.problem = list.problem;
  if (billedProblem !== undefined) b.billedProblem = billedProblem;
  return b;
}

/**
 * The default upstream's case (USD at factor 1, no own rows): the list result is the bill, the
 * same numbers. No bigint and no second pricing: one small object per request.
 */
export function listBiller(pricer: Pricer): Biller {
  return {
    currency: USD,
    bill(model: string | null, usage: Usage, ctx: PriceContext): Bill {
      const r = pricer.price(model, usage, ctx);
      return toBill(r, USD, r.costPicoUsd, r.unpriced);
    },
  };
}

/**
 * Built once per config snapshot per upstream. Throws PricingError naming the file (or config)
 * and the key path for an invalid factor or own row; `path` is where `billing` sits in the config
 * (`upstream.billing`, `upstreams[2].billing`), for inline rows' error paths.
 */
export function buildBiller(billing: BillingConfig, list: Pricer, configSource: string | null, path = 'billing'): Biller {
  const factor = parseFactor(billing, configSource, path);
  const own = ownTable(billing, list, configSource, path, factor);
  if (own === null && billing.currency === USD && factor !== null && factor.num === factor.den) return listBiller(list);
  return new UpstreamBiller(billing.currency, list, factor, own);
}

function parseFactor(billing: BillingConfig, configSource: string | null, path: string): Rational | null {
  if (billing.list_price_factor === null) return null;
  const s = scaleDecimal(billing.list_price_factor, MAX_FACTOR);
  const at = `${path}.list_price_factor`;
  if (!s.ok) throw new PricingError(configSource ?? 'config', at, s.reason.replace('pico-USD', 'pico-units'));
  if (s.value === 0n) throw new PricingError(configSource ?? 'config', at, 'must be greater than 0');
  return rationalFromScaled(s.value);
}

/** Own rows are the upstream's prices, so a row may not be keyed by what the list table calls an alias. */
function refuseListAliases(models: Record<string, unknown>, list: Pricer, src: string, prefix: string): void {
  for (const id of Object.keys(models)) {
    const canonical = list.resolve(id);
    if (canonical !== null && canonical !== id) {
      throw new PricingError(
        src,
        joinKey(prefix, id),
        `is an alias of ${canonical} in the list table; key the row by the model id ${canonical}`,
      );
    }
  }
}

/** Validation says pico-USD; an upstream's rows are in its own currency. */
function inCurrency<T>(currency: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (!(e instanceof PricingError)) throw e;
    throw new PricingError(e.source, e.path, e.reason.replace('pico-USD', `pico-${currency}`));
  }
}

/** An upstream's own rows, and whether web searches have a price in its currency. */
interface OwnTable {
  table: PriceTable;
  webSearchPriced: boolean;
}

/**
 * The upstream's own rows (file ← inline models, later replacing earlier model by model), or null
 * when it has none. Multipliers (batch, US geo) are the list table's: they are ratios, not prices.
 * Web searches are priced at the list fee × factor (exact: the fee is a whole number of micro-USD);
 * with no factor they have no price in this currency and make the bill unpriced.
 */
function ownTable(
  billing: BillingConfig,
  list: Pricer,
  configSource: string | null,
  path: string,
  factor: Rational | null,
): OwnTable | null {
  const { file, models } = billing.pricing;
  const inline = Object.keys(models).length > 0;
  if (file === null && !inline) return null;
  const bundled = bundledPriceTable();
  const webSearch = factor === null ? null : scaleHalfEven(bundled.webSearchPicoPerRequest, factor);
  let table: PriceTable = {
    version: bundled.version,
    webSearchPicoPerRequest: webSearch ?? 0,
    multipliers: bundled.multipliers,
    models: new Map(),
    aliases: new Map(),
  };
  if (file !== null) {
    const { path: filePath, text } = readPricingFile(file, configSource);
    const entries = parseOverrideFile(text, filePath);
    refuseListAliases(entries, list, filePath, 'models');
    table = inCurrency(billing.currency, () => mergeOverrides(table, entries, filePath));
  }
  if (inline) {
    const src = configSource ?? 'config';
    const prefix = `${path}.pricing.models`;
    refuseListAliases(models, list, src, prefix);
    table = inCurrency(billing.currency, () => mergeOverrides(table, models, src, prefix));
  }
  return { table, webSearchPriced: webSearch !== null };
}

type Billed = { pico: number; problem?: undefined } | { pico?: undefined; problem: string };

class UpstreamBiller implements Biller {
  readonly currency: string;
  readonly #list: Pricer;
  readonly #factor: Rational | null;
  readonly #own: OwnTable | null;

  constructor(currency: string, list: Pricer, factor: Rational | null, own: OwnTable | null) {
    this.currency = currency;
    this.#list = list;
    this.#factor = factor;
    this.#own = own;
  }

  bill(model: string | null, usage: Usage, ctx: PriceContext): Bill {
    const list = this.#list.price(model, usage, ctx);
    const billed = this.#ownPrice(model, usage, ctx) ?? this.#fromList(list);
    if (billed === null) return toBill(list, this.currency, 0, true);
    if (billed.problem !== undefined) return toBill(list, this.currency, 0, true, billed.problem);
    return toBill(list, this.currency, billed.pico, false);
  }

  /** Null when the upstream has no row in force for the model: the factor decides then. */
  #ownPrice(model: string | null, usage: Usage, ctx: PriceContext): Billed | null {
    if (this.#own === null || model === null) return null;
    const { table: own, webSearchPriced } = this.#own;
    let id = resolveModel(own, model);
    if (id === null) {
      const canonical = this.#list.resolve(model);
      id = canonical === null ? null : resolveModel(own, canonical);
    }
    const pricing = id === null ? undefined : own.models.get(id);
    if (id === null || pricing === undefined || selectRow(pricing, ctx.at) === null) return null;
    if (usage.webSearchRequests > 0 && !webSearchPriced) {
      return {
        problem: `web searches have no price in ${this.currency}: the upstream's rows price tokens only and it has no list_price_factor`,
      };
    }
    try {
      return { pico: computeCost(own, id, usage, ctx).costPicoUsd };
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      return { problem: e.message.replace(/pico-USD( \(~\$[\d,]+\))?/, `pico-${this.currency}`) };
    }
  }

  #fromList(list: PriceResult): Billed | null {
    if (this.#factor === null || list.unpriced) return null;
    const pico = scaleHalfEven(list.costPicoUsd, this.#factor);
    if (pico === null) return { problem: `the billed amount exceeds 2^53 pico-${this.currency}: usage looks corrupt` };
    return { pico };
  }
}
