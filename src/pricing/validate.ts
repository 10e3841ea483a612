/**
 * Strict schema for pricing data: every key is known, every rate converts exactly, every error
 * names the source and key path. Input is the plain value `yaml.parse` produced (or inline config).
 */
import { PricingError, joinKey } from './errors.ts';
import { describe, rationalFromScaled, scaleDecimal } from '../core/decimal.ts';
import type { Citation, LongPromptTier, ModelPricing, PicoRates, PriceRow } from './types.ts';
import type { Rational } from '../core/decimal.ts';

/** Sanity bound: a rate above this is a unit mistake (per-KTok, cents, …), not a real price. */
export const MAX_RATE_USD_PER_MTOK = 10_000;
const MAX_MULTIPLIER = 100;
const MAX_WEB_SEARCH_USD_PER_1K = 10_000;

type Obj = Record<string, unknown>;
const RATE_KEYS = ['input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read'] as const;

export interface ParsedRoot {
  version: string;
  webSearchPicoPerRequest: number;
  multipliers: { batch: Rational; inferenceGeoUs: Rational };
  /** Raw `models` mapping, parsed separately with parseModel so overrides share the code. */
  models: Obj;
}

export interface ParsedModel {
  pricing: ModelPricing;
  /** False when the entry had no `aliases` key: an override then keeps the base entry's aliases. */
  aliasesGiven: boolean;
}

function fail(src: string, path: string, reason: string): never {
  throw new PricingError(src, path, reason);
}

export function asObject(v: unknown, src: string, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    fail(src, path, `must be a mapping, got ${describe(v)}`);
  }
  return v as Obj;
}

/** Unknown keys first (typos are the common mistake), then missing required ones. */
function checkKeys(o: Obj, src: string, path: string, required: readonly string[], optional: readonly string[]): void {
  const known = new Set([...required, ...optional]);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) fail(src, joinKey(path, k), `unknown key (expected one of: ${[...known].join(', ')})`);
  }
  for (const k of required) {
    if (o[k] === undefined) fail(src, joinKey(path, k), 'is required');
  }
}

function parseDate(v: unknown, src: string, path: string): number {
  const m = typeof v === 'string' ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(v) : null;
  if (m) {
    const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    // Date.UTC rolls 2026-02-30 over to March; a real date survives the round trip.
    if (new Date(ms).toISOString().slice(0, 10) === v) return ms;
  }
  return fail(src, path, `must be a date 'YYYY-MM-DD' (quoted), got ${describe(v)}`);
}

function scaled(v: unknown, max: number, src: string, path: string): bigint {
  const r = scaleDecimal(v, max);
  if (!r.ok) fail(src, path, r.reason);
  return r.value;
}

function parseRates(o: Obj, src: string, path: string): PicoRates {
  // $X/MTok × 1e6 = pico-USD per token; bounded by MAX_RATE so it is far inside Number range.
  const pico = (k: (typeof RATE_KEYS)[number]): number => Number(scaled(o[k], MAX_RATE_USD_PER_MTOK, src, `${path}.${k}`));
  return {
    input: pico('input'),
    output: pico('output'),
    cacheWrite5m: pico('cache_write_5m'),
    cacheWrite1h: pico('cache_write_1h'),
    cacheRead: pico('cache_read'),
  };
}

function parseLongPrompt(v: unknown, src: string, path: string): LongPromptTier {
  const o = asObject(v, src, path);
  checkKeys(o, src, path, ['threshold_tokens', ...RATE_KEYS], ['requires_beta']);
  const t = o['threshold_tokens'];
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0) {
    fail(src, `${path}.threshold_tokens`, `must be a positive integer, got ${describe(t)}`);
  }
  const beta = o['requires_beta'];
  let requiresBeta: string | null = null;
  if (beta !== undefined) {
    if (typeof beta !== 'string' || beta === '' || /\s/.test(beta)) {
      fail(src, `${path}.requires_beta`, `must be a beta flag name, got ${describe(beta)}`);
    }
    requiresBeta = beta;
  }
  return { thresholdTokens: t, requiresBeta, rates: parseRates(o, src, path) };
}

/** An http(s) address with no whitespace: where the row's prices were read. */
const SOURCE_URL = /^https?:\/\/\S+$/;

/** `source: { url, read }`: where a row's prices come from and the day they were read there. */
function parseCitation(v: unknown, src: string, path: string): Citation {
  const o = asObject(v, src, path);
  checkKeys(o, src, path, ['url', 'read'], []);
  const url = o['url'];
  if (typeof url !== 'string' || !SOURCE_URL.test(url)) {
    fail(src, `${path}.url`, `must be an http(s) address, got ${describe(url)}`);
  }
  parseDate(o['read'], src, `${path}.read`);
  return { url, read: o['read'] as string };
}

function parseRow(v: unknown, src: string, path: string): PriceRow {
  const o = asObject(v, src, path);
  checkKeys(o, src, path, RATE_KEYS, ['effective_from', 'effective_to', 'long_prompt', 'fast', 'source']);
  const from = o['effective_from'] === undefined ? null : parseDate(o['effective_from'], src, `${path}.effective_from`);
  const to = o['effective_to'] === undefined ? null : parseDate(o['effective_to'], src, `${path}.effective_to`);
  if (from !== null && to !== null && to <= from) {
    fail(src, `${path}.effective_to`, `must be after effective_from (${String(o['effective_from'])})`);
  }
  const fastRaw = o['fast'];
  let fast: PicoRates | null = null;
  if (fastRaw !== undefined) {
    const f = asObject(fastRaw, src, `${path}.fast`);
    checkKeys(f, src, `${path}.fast`, RATE_KEYS, []);
    fast = parseRates(f, src, `${path}.fast`);
  }
  return {
    effectiveFrom: from,
    effectiveTo: to,
    base: parseRates(o, src, path),
    longPrompt: o['long_prompt'] === undefined ? null : parseLongPrompt(o['long_prompt'], src, `${path}.long_prompt`),
    fast,
    citation: o['source'] === undefined ? null : parseCitation(o['source'], src, `${path}.source`),
  };
}

function isoDay(ms: number | null): string {
  return ms === null ? 'open' : new Date(ms).toISOString().slice(0, 10);
}

/** Rows sorted by start; two rows covering the same instant would make the price ambiguous. */
function sortRows(rows: PriceRow[], src: string, path: string): PriceRow[] {
  const indexed = rows.map((row, i) => ({ row, i }));
  indexed.sort((a, b) => (a.row.effectiveFrom ?? -Infinity) - (b.row.effectiveFrom ?? -Infinity));
  for (let k = 1; k < indexed.length; k++) {
    const prev = indexed[k - 1]!;
    const cur = indexed[k]!;
    if ((prev.row.effectiveTo ?? Infinity) > (cur.row.effectiveFrom ?? -Infinity)) {
      fail(
        src,
        `${path}[${cur.i}]`,
        `overlaps ${path.slice(path.lastIndexOf('.') + 1)}[${prev.i}] ` +
          `(${isoDay(prev.row.effectiveFrom)}..${isoDay(prev.row.effectiveTo)}); rows must not overlap`,
      );
    }
  }
  return indexed.map((x) => x.row);
}

export function parseModel(id: string, v: unknown, src: string, path: string): ParsedModel {
  if (id.trim() === '' || /\s/.test(id)) fail(src, path, 'model id must be non-empty with no whitespace');
  const o = asObject(v, src, path);
  checkKeys(o, src, path, ['geo_us_applies', 'prices'], ['aliases']);
  const geo = o['geo_us_applies'];
  if (typeof geo !== 'boolean') fail(src, `${path}.geo_us_applies`, `must be true or false, got ${describe(geo)}`);
  const aliasesRaw = o['aliases'];
  const aliases: string[] = [];
  if (aliasesRaw !== undefined) {
    if (!Array.isArray(aliasesRaw)) fail(src, `${path}.aliases`, `must be a list, got ${describe(aliasesRaw)}`);
    aliasesRaw.forEach((a: unknown, i) => {
      const p = `${path}.aliases[${i}]`;
      if (typeof a !== 'string' || a.trim() === '' || /\s/.test(a)) fail(src, p, `must be a model id, got ${describe(a)}`);
      if (a === id) fail(src, p, 'is the model id itself');
      if (aliases.includes(a)) fail(src, p, `duplicate alias "${a}"`);
      aliases.push(a);
    });
  }
  const pricesRaw = o['prices'];
  if (!Array.isArray(pricesRaw) || pricesRaw.length === 0) {
    fail(src, `${path}.prices`, `must be a non-empty list of price rows, got ${describe(pricesRaw)}`);
  }
  const rows = pricesRaw.map((r: unknown, i) => parseRow(r, src, `${path}.prices[${i}]`));
  return {
    pricing: { id, aliases, geoUsApplies: geo, rows: sortRows(rows, src, `${path}.prices`), source: src },
    aliasesGiven: aliasesRaw !== undefined,
  };
}

export function parseRoot(v: unknown, src: string): ParsedRoot {
  const root = asObject(v, src, '(document)');
  checkKeys(root, src, '', ['version', 'web_search_per_1k_usd', 'multipliers', 'models'], []);
  const version = root['version'];
  parseDate(version, src, 'version');
  const mult = asObject(root['multipliers'], src, 'multipliers');
  checkKeys(mult, src, 'multipliers', ['batch', 'inference_geo_us'], []);
  const ratio = (k: string): Rational => {
    const s = scaled(mult[k], MAX_MULTIPLIER, src, `multipliers.${k}`);
    if (s === 0n) fail(src, `multipliers.${k}`, 'must be greater than 0');
    return rationalFromScaled(s);
  };
  // USD per 1,000 searches × 1e6 = micro-USD per 1,000 = (× 1e6 / 1e3) pico-USD per search.
  const perK = scaled(root['web_search_per_1k_usd'], MAX_WEB_SEARCH_USD_PER_1K, src, 'web_search_per_1k_usd');
  return {
    version: version as string,
    webSearchPicoPerRequest: Number(perK * 1000n),
    multipliers: { batch: ratio('batch'), inferenceGeoUs: ratio('inference_geo_us') },
    models: asObject(root['models'], src, 'models'),
  };
}
