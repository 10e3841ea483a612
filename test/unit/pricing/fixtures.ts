/** Shared builders for the pricing tests (not a test file itself). */
import { emptyUsage, type Usage } from '../../../src/core/usage.ts';
import type { PriceContext } from '../../../src/pricing/types.ts';

export function usage(over: Partial<Usage>): Usage {
  return { ...emptyUsage(), ...over };
}

/** Context at a UTC instant, e.g. at('2026-11-27'). */
export function at(iso: string, betas: readonly string[] = []): PriceContext {
  return { at: Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso), betas };
}

export const NOW = at('2026-11-27T12:00:00Z');

/** A minimal valid table; `models` is YAML text indented under `models:`. */
export function tableYaml(models: string): string {
  return [
    'version: "2026-11-27"',
    'web_search_per_1k_usd: 10',
    'multipliers: { batch: 0.5, inference_geo_us: 1.1 }',
    'models:',
    models,
  ].join('\n');
}

/** One model entry with a single row, for validation tests; `row` is a flow-mapping body. */
export function oneModel(id: string, row: string, extra = ''): string {
  return tableYaml(`  ${id}:\n    geo_us_applies: false\n${extra}    prices:\n      - { ${row} }\n`);
}

export const STD_ROW = 'input: 5, output: 25, cache_write_5m: 6.25, cache_write_1h: 10, cache_read: 0.5';
