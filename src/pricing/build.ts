/**
 * Composition-root helper: bundled table ← user pricing file ← inline `pricing.models`, later
 * sources replacing earlier ones model by model. The only pricing code that touches the disk
 * besides bundledPriceTable() (billing.ts reads an upstream's pricing file through readPricingFile).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TablePricer } from './cost.ts';
import { PricingError } from './errors.ts';
import { bundledPriceTable, mergeOverrides, parseOverrideFile } from './table.ts';
import type { PriceTable, Pricer, PricingSource } from './types.ts';

/**
 * A relative `pricing.file` (or an upstream's `billing.pricing.file`) is relative to the config
 * file that named it (cwd when there is none).
 */
export function readPricingFile(file: string, configSource: string | null): { path: string; text: string } {
  const path = configSource === null ? resolve(file) : resolve(dirname(configSource), file);
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (e) {
    throw new PricingError(path, '(document)', `cannot read pricing file: ${(e as Error).message}`);
  }
}

/** The merged table; throws PricingError naming the offending file and key. */
export function buildPriceTable(config: PricingSource): PriceTable {
  let table = bundledPriceTable();
  if (config.pricing.file !== null) {
    const { path, text } = readPricingFile(config.pricing.file, config.source);
    table = mergeOverrides(table, parseOverrideFile(text, path), path);
  }
  if (Object.keys(config.pricing.models).length > 0) {
    table = mergeOverrides(table, config.pricing.models, config.source ?? 'config', 'pricing.models');
  }
  return table;
}

export function buildPricer(config: PricingSource): Pricer {
  return new TablePricer(buildPriceTable(config));
}
