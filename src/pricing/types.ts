import type { Usage } from '../usage/types.ts';

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

export interface PriceResult {
  /** Integer pico-USD (1e-12 USD). 0 when unpriced. */
  costPicoUsd: number;
  /** The model has no price row: the cost is unknown, never $0. */
  unpriced: boolean;
  /** Canonical id the model resolved to, or null when unpriced. */
  resolvedModel: string | null;
  /** Which tier was applied (`base`, `long_prompt`, `fast`), for logs. */
  tier: string | null;
}

export interface Pricer {
  price(model: string | null, usage: Usage, ctx: PriceContext): PriceResult;
  /** Canonical id for a model string, or null if the table does not know it. */
  resolve(model: string): string | null;
  /** Date of the pricing table in force, for /_meter/health. */
  readonly version: string;
}
