/**
 * Cost of one request, in integer pico-USD. Pure: (table, model, usage, context) → PriceResult.
 *
 * Formula (Anthropic's pricing documentation: cache writes and reads, batch, data residency):
 *   prompt_total = input + cache_creation + cache_read            (tier selection only)
 *   tokens = input·in + c5m·w5m + c1h·w1h + (cache_creation − c5m − c1h)·w5m + cache_read·read + output·out
 *   cost   = round_half_up(tokens × batch × geo) + web_search_requests × per_search
 *
 * Exactness: rates are integer pico-USD per token, so `tokens` is an exact integer: summed in
 * plain numbers when no multiplier applies and the total stays a safe integer (the common case,
 * no bigint allocations), as a bigint otherwise (property-tested against a bigint reference). Multipliers are
 * fractions (0.5 = 1/2, 1.1 = 11/10) applied as one multiply and one divide. Every bundled rate is
 * a multiple of $0.001/MTok = 1,000 pico and 1,000 × 1/2 × 11/10 = 550, so bundled prices never
 * round (a test pins this); a finer user rate may, and then we round half-up ONCE per request,
 * at the end, never per token class. Web search is outside the multipliers (it is a per-call fee).
 *
 * Range: a request's cost must be a safe integer (≤ 2^53 pico ≈ $9,007). Real requests are far
 * below (1M output tokens at $150/MTok is $150); a larger figure means corrupt usage, so we throw.
 */
import { resolveModel } from './resolve.ts';
import type { Usage } from '../core/usage.ts';
import type {
  AggregateContext,
  ModelPricing,
  PicoRates,
  PriceContext,
  PriceResult,
  PriceRow,
  PriceTable,
  Pricer,
  PricingTier,
  TokenCounts,
} from './types.ts';

/** The row in force at `at` (epoch ms): effective_from inclusive, effective_to exclusive. */
export function selectRow(model: ModelPricing, at: number): PriceRow | null {
  for (const row of model.rows) {
    if ((row.effectiveFrom ?? -Infinity) <= at && at < (row.effectiveTo ?? Infinity)) return row;
  }
  return null;
}

/**
 * Counts come from the upstream body; a negative or fractional count is a parser bug, not a price.
 * computeCost throws RangeError for it (and for ctx.at not finite, or a cost above 2^53);
 * TablePricer.price turns that into an unpriced result. Field by field rather than a loop over
 * key names: the keyed loop was half of a request's pricing time (~450 ns of ~900, profiled).
 */
function checkUsage(usage: Usage): void {
  count('input', usage.input);
  count('output', usage.output);
  count('cacheCreation', usage.cacheCreation);
  count('cacheRead', usage.cacheRead);
  count('webSearchRequests', usage.webSearchRequests);
  if (usage.cacheCreation5m !== null) count('cacheCreation5m', usage.cacheCreation5m, ' null or');
  if (usage.cacheCreation1h !== null) count('cacheCreation1h', usage.cacheCreation1h, ' null or');
}

function count(key: string, v: number, orNull = ''): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`usage.${key} must be${orNull} a non-negative integer, got ${String(v)}`);
}

function pickRates(row: PriceRow, usage: Usage, promptTotal: number, ctx: PriceContext): [PricingTier, PicoRates] {
  const lp = row.longPrompt;
  const long =
    lp !== null && promptTotal > lp.thresholdTokens && (lp.requiresBeta === null || ctx.betas.some((b) => b.trim() === lp.requiresBeta));
  if (usage.speed === 'fast') {
    // Fast rows are complete cards (cache multipliers already applied) and win over long_prompt.
    if (row.fast !== null) return ['fast', row.fast];
    // No fast price known (e.g. Opus 4.7 rejects fast mode): bill the normal card as a lower
    // bound and say so in `tier`, rather than pricing a real request at $0.
    return ['fast_unpriced', long ? lp.rates : row.base];
  }
  return long ? ['long_prompt', lp.rates] : ['base', row.base];
}

function unpriced(resolvedModel: string | null): PriceResult {
  return { costPicoUsd: 0, unpriced: true, resolvedModel, tier: null };
}

function corrupt(resolvedModel: string | null, problem: string): PriceResult {
  return { costPicoUsd: 0, unpriced: true, resolvedModel, tier: null, problem };
}

export function computeCost(table: PriceTable, model: string | null, usage: Usage, ctx: PriceContext): PriceResult {
  if (!Number.isFinite(ctx.at)) throw new RangeError(`ctx.at must be epoch ms, got ${String(ctx.at)}`);
  checkUsage(usage);
  const id = model === null ? null : resolveModel(table, model);
  const pricing = id === null ? undefined : table.models.get(id);
  if (id === null || pricing === undefined) return unpriced(null);
  const row = selectRow(pricing, ctx.at);
  if (row === null) return unpriced(id);

  // The TTL split is per-TTL fact; if it ever exceeds the total we bill the split (never under-bill).
  const split = (usage.cacheCreation5m ?? 0) + (usage.cacheCreation1h ?? 0);
  const cacheCreation = Math.max(usage.cacheCreation, split);
  const promptTotal = usage.input + cacheCreation + usage.cacheRead;
  const [tier, r] = pickRates(row, usage, promptTotal, ctx);

  const scaled = usage.serviceTier === 'batch' || (usage.inferenceGeo === 'us' && pricing.geoUsApplies);
  if (!scaled) {
    // The common case, no multiplier: the same integer sum in plain numbers. Every term is
    // a non-negative integer product, so if the total is a safe integer no term or partial
    // sum passed 2^53 and the result is exact; otherwise the bigint path below decides.
    const n =
      usage.input * r.input +
      (usage.cacheCreation5m ?? 0) * r.cacheWrite5m +
      (usage.cacheCreation1h ?? 0) * r.cacheWrite1h +
      (cacheCreation - split) * r.cacheWrite5m +
      usage.cacheRead * r.cacheRead +
      usage.output * r.output +
      usage.webSearchRequests * table.webSearchPicoPerRequest;
    if (Number.isSafeInteger(n)) return priced(n, id, tier, cacheSavings(usage.cacheRead, r, 1n, 1n));
  }

  const B = BigInt;
  const tokens =
    B(usage.input) * B(r.input) +
    B(usage.cacheCreation5m ?? 0) * B(r.cacheWrite5m) +
    B(usage.cacheCreation1h ?? 0) * B(r.cacheWrite1h) +
    B(cacheCreation - split) * B(r.cacheWrite5m) + // unsplit remainder: the API default TTL is 5m
    B(usage.cacheRead) * B(r.cacheRead) +
    B(usage.output) * B(r.output);

  let num = 1n;
  let den = 1n;
  if (usage.serviceTier === 'batch') {
    num *= table.multipliers.batch.num;
    den *= table.multipliers.batch.den;
  }
  if (usage.inferenceGeo === 'us' && pricing.geoUsApplies) {
    num *= table.multipliers.inferenceGeoUs.num;
    den *= table.multipliers.inferenceGeoUs.den;
  }
  // floor(x + 1/2) for x ≥ 0: round half-up, exact when den divides tokens·num.
  const tokenCost = (2n * tokens * num + den) / (2n * den);
  const total = tokenCost + B(usage.webSearchRequests) * B(table.webSearchPicoPerRequest);
  if (total > B(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`cost of one ${id} request exceeds 2^53 pico-USD (~$9,007): usage looks corrupt`);
  }
  return priced(Number(total), id, tier, cacheSavings(usage.cacheRead, r, num, den));
}

/**
 * A priced result as one of two object literals. No spread: in Node 20 an object spread costs
 * ~100 ns and `{ ...result, more }` several µs (measured), and every request is priced.
 */
function priced(costPicoUsd: number, id: string, tier: PricingTier, savings: number | undefined): PriceResult {
  return savings === undefined
    ? { costPicoUsd, unpriced: false, resolvedModel: id, tier }
    : { costPicoUsd, unpriced: false, resolvedModel: id, tier, cacheSavingsPicoUsd: savings };
}

/**
 * What the cache reads saved: cache_read × (input − read) × multipliers, rounded half-up once,
 * the same arithmetic as the cost. A card whose reads cost more than input saves nothing (never negative).
 */
function cacheSavings(cacheRead: number, r: PicoRates, num: bigint, den: bigint): number | undefined {
  const perToken = r.input - r.cacheRead;
  if (cacheRead === 0 || perToken <= 0) return undefined;
  const n = cacheRead * perToken;
  if (num === den && Number.isSafeInteger(n)) return n;
  const saved = (2n * BigInt(cacheRead) * BigInt(perToken) * num + den) / (2n * den);
  // Savings can pass 2^53 where the cost does not (reads cost a tenth of input): such usage looks
  // corrupt, and a metric must not make a valid bill throw, so it is left out.
  return saved > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(saved);
}

/**
 * Sums of many requests priced at once, exact in bigint (a day of an organization's traffic passes
 * 2^53 pico-USD): what `reconcile` prices Anthropic's usage report with. The report states the
 * context window of its rows (`0-200k`, `200k-1M`) where a request's prompt size decided it, so
 * `longContext` picks the long-prompt card (the base card when the model has none: 1M context at
 * the standard price). Batch and `inference_geo: us` apply as for one request; rounded half-up once.
 * Null when the model has no price at `ctx.at`.
 */
export function aggregateCost(table: PriceTable, model: string, counts: TokenCounts, ctx: AggregateContext): bigint | null {
  const id = resolveModel(table, model);
  const pricing = id === null ? undefined : table.models.get(id);
  if (pricing === undefined) return null;
  const row = selectRow(pricing, ctx.at);
  if (row === null) return null;
  const r = ctx.longContext && row.longPrompt !== null ? row.longPrompt.rates : row.base;
  const B = BigInt;
  const tokens =
    B(counts.input) * B(r.input) +
    B(counts.cacheWrite5m) * B(r.cacheWrite5m) +
    B(counts.cacheWrite1h) * B(r.cacheWrite1h) +
    B(counts.cacheRead) * B(r.cacheRead) +
    B(counts.output) * B(r.output);
  let num = 1n;
  let den = 1n;
  if (ctx.serviceTier === 'batch') {
    num *= table.multipliers.batch.num;
    den *= table.multipliers.batch.den;
  }
  if (ctx.inferenceGeo === 'us' && pricing.geoUsApplies) {
    num *= table.multipliers.inferenceGeoUs.num;
    den *= table.multipliers.inferenceGeoUs.den;
  }
  return (2n * tokens * num + den) / (2n * den) + B(counts.webSearchRequests) * B(table.webSearchPicoPerRequest);
}

/** Pricer over one immutable table; hot reload builds a new TablePricer and swaps the reference. */
export class TablePricer implements Pricer {
  readonly #table: PriceTable;

  constructor(table: PriceTable) {
    this.#table = table;
  }

  get version(): string {
    return this.#table.version;
  }

  /**
   * Never throws: metering runs after the response was delivered, so corrupt usage becomes an
   * unpriced result carrying `problem`, not an exception in the request path.
   */
  price(model: string | null, usage: Usage, ctx: PriceContext): PriceResult {
    try {
      return computeCost(this.#table, model, usage, ctx);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      const resolvedModel = model === null ? null : resolveModel(this.#table, model);
      return corrupt(resolvedModel, e.message);
    }
  }

  resolve(model: string): string | null {
    return resolveModel(this.#table, model);
  }

  priceAggregate(model: string, counts: TokenCounts, ctx: AggregateContext): bigint | null {
    return aggregateCost(this.#table, model, counts, ctx);
  }
}
