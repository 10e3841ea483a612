import type { Rational } from '../core/decimal.ts';
import type { Usage } from '../core/usage.ts';

/** The config's `pricing` section. */
export interface PricingConfig {
  /** Extra pricing YAML file merged over the bundled table, or null. Absolute: the loader resolves it against the config file's directory. */
  file: string | null;
  /** Inline model rows, same shape as the pricing file's `models` entries. Not validated by config: the pricing module owns the shape. */
  models: Record<string, unknown>;
}

/** What pricing reads from a config: its section and the file it came from (relative pricing files). */
export interface PricingSource {
  source: string | null;
  pricing: PricingConfig;
}

/** Rates in USD per million tokens, exactly as written in the pricing YAML. */
export interface RateCard {
  input: number;
  output: number;
  cache_write_5m: number;
  cache_write_1h: number;
  cache_read: number;
}

export interface PriceContext {
  /** Epoch ms the request was made: selects the dated price row. */
  at: number;
  /** `anthropic-beta` flags of the request (for long-context tiers gated by a beta). */
  betas: readonly string[];
}

/**
 * Which rate card priced a request.
 * `fast_unpriced`: the response says `speed: "fast"` but the model has no fast row, so the
 * base rates were used; the cost is a lower bound (fast mode costs several times base).
 */
export type PricingTier = 'base' | 'long_prompt' | 'fast' | 'fast_unpriced';

export interface PriceResult {
  /** Integer pico-USD (1e-12 USD). 0 when unpriced. */
  costPicoUsd: number;
  /** No price applies (unknown model, or no dated row covers `ctx.at`): the cost is unknown, never $0. */
  unpriced: boolean;
  /**
   * Canonical id the model resolved to, or null when the model is unknown. A known model with
   * no row in force at `ctx.at` is `unpriced: true` with this still set.
   */
  resolvedModel: string | null;
  /** Which tier was applied, for logs; null when unpriced. */
  tier: PricingTier | null;
  /**
   * Integer pico-USD the cache reads saved: their price at the input rate minus at the cache-read
   * rate, same card and multipliers. Present only on a priced request that read from the cache.
   */
  cacheSavingsPicoUsd?: number;
  /**
   * Set (and `unpriced: true`) when the usage itself could not be priced: negative or fractional
   * counts, or a cost beyond 2^53 pico-USD. Points at a parser bug or corrupt upstream data.
   */
  problem?: string;
}

/** Token counts summed over many requests (cost.ts aggregateCost). */
export interface TokenCounts {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  webSearchRequests: number;
}

/** What decides the rates of summed counts: the day, and the facts a usage report groups by. */
export interface AggregateContext {
  at: number;
  serviceTier: string | null;
  inferenceGeo: string | null;
  /** The long-prompt card (context window 200k-1M). */
  longContext: boolean;
}

export interface Pricer {
  price(model: string | null, usage: Usage, ctx: PriceContext): PriceResult;
  /** Summed counts in exact pico-USD; null when the model has no price at `ctx.at`. */
  priceAggregate(model: string, counts: TokenCounts, ctx: AggregateContext): bigint | null;
  /** Canonical id for a model string, or null if the table does not know it. */
  resolve(model: string): string | null;
  /** Date of the pricing table in force, for /_meter/health. */
  readonly version: string;
}

// ---- The validated, converted table (built by table.ts, read by resolve.ts and cost.ts) ----

/** One rate card converted once from $/MTok: integer pico-USD per token ($X/MTok = X·1e6). */
export interface PicoRates {
  readonly input: number;
  readonly output: number;
  readonly cacheWrite5m: number;
  readonly cacheWrite1h: number;
  readonly cacheRead: number;
}

/** Rates that replace the base card for the WHOLE request when the prompt is long enough. */
export interface LongPromptTier {
  /** Applies when input + cache writes + cache reads is strictly greater than this. */
  readonly thresholdTokens: number;
  /** Applies only if the request carried this `anthropic-beta` flag; null = always. */
  readonly requiresBeta: string | null;
  readonly rates: PicoRates;
}

/** Where a row's prices were read: an address and the day (`YYYY-MM-DD`) they were read there. */
export interface Citation {
  readonly url: string;
  readonly read: string;
}

export interface PriceRow {
  /** Epoch ms (UTC midnight), inclusive; null = since forever. */
  readonly effectiveFrom: number | null;
  /** Epoch ms (UTC midnight), exclusive; null = until further notice. */
  readonly effectiveTo: number | null;
  readonly base: PicoRates;
  readonly longPrompt: LongPromptTier | null;
  readonly fast: PicoRates | null;
  /** The row's `source` (optional in the YAML; every bundled non-Claude row has one, a test says so). */
  readonly citation: Citation | null;
}

export interface ModelPricing {
  /** Canonical API id. */
  readonly id: string;
  readonly aliases: readonly string[];
  /** `inference_geo: "us"` surcharge applies (Claude 4.6 and later). */
  readonly geoUsApplies: boolean;
  /** Non-overlapping, sorted by effectiveFrom. */
  readonly rows: readonly PriceRow[];
  /** File or config the entry came from, for error messages and `/_meter` output. */
  readonly source: string;
}

export interface PriceTable {
  /** Date of the table, `YYYY-MM-DD`. */
  readonly version: string;
  /** Integer pico-USD per web search request. */
  readonly webSearchPicoPerRequest: number;
  readonly multipliers: { readonly batch: Rational; readonly inferenceGeoUs: Rational };
  /** Canonical id → pricing. */
  readonly models: ReadonlyMap<string, ModelPricing>;
  /** Alias id → canonical id. No alias equals a canonical id. */
  readonly aliases: ReadonlyMap<string, string>;
}

// ---- What an upstream bills (billing.ts): the list price in USD and the amount in its own currency ----

/** The config's `billing` section of an upstream: what it charges, in which currency. */
export interface BillingConfig {
  /** ISO 4217 code of what the upstream bills in. */
  currency: string;
  /**
   * Billed = list price (USD) × this, in `currency` (HolySheep's "$1 of list price for ¥1" is 1 with CNY).
   * Exact decimal, at most 6 places. Null: only models in `pricing` are priced; others are unpriced.
   */
  list_price_factor: number | null;
  /** The upstream's own per-model prices, in `currency` per million tokens (same row shape as the pricing file). */
  pricing: PricingConfig;
}

/** One request's price: the list price (USD, as PriceResult) and what the upstream bills for it. */
export interface Bill extends PriceResult {
  /** The currency the upstream bills in. */
  currency: string;
  /** Integer pico-units of `currency`; 0 when `billedUnpriced`. */
  billedPico: number;
  /** No billed price applies (never $0): neither the upstream's own rows nor a list price with a factor. */
  billedUnpriced: boolean;
  /**
   * Set (and `billedUnpriced: true`) when a billed price applied but could not be computed: the
   * amount passes 2^53 pico-units, or web searches with no price in `currency`.
   */
  billedProblem?: string;
}

/** Prices a request as one upstream bills it. Built once per config snapshot per upstream. */
export interface Biller {
  readonly currency: string;
  bill(model: string | null, usage: Usage, ctx: PriceContext): Bill;
}
