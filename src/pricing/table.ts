/**
 * Loading the pricing table: YAML text → validated, converted, frozen PriceTable.
 * Prices are data (dated rows), never code constants, because the lineup and the rules change
 * faster than releases (see prices.yaml header).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { PricingError, joinKey } from './errors.ts';
import { asObject, parseModel, parseRoot } from './validate.ts';
import type { ModelPricing, PriceTable } from './types.ts';

/** Name used in error messages for the table shipped with the package. */
export const BUNDLED_SOURCE = 'bundled prices.yaml';

function parseYaml(yamlText: string, sourceName: string): unknown {
  try {
    // core schema: unquoted dates stay strings; duplicate keys are an error, not "last wins".
    return parse(yamlText, { schema: 'core', uniqueKeys: true, logLevel: 'error' });
  } catch (e) {
    throw new PricingError(sourceName, '(document)', `invalid YAML: ${(e as Error).message}`);
  }
}

function freezeModel(m: ModelPricing): ModelPricing {
  for (const row of m.rows) {
    Object.freeze(row.base);
    if (row.fast) Object.freeze(row.fast);
    if (row.longPrompt) Object.freeze(Object.freeze(row.longPrompt).rates);
    if (row.citation) Object.freeze(row.citation);
    Object.freeze(row);
  }
  Object.freeze(m.rows);
  Object.freeze(m.aliases);
  return Object.freeze(m);
}

/**
 * alias → canonical id. An alias may not shadow a model id or be claimed twice: either would
 * make resolution depend on file order. `blamed` models are indexed last so a conflict is
 * reported against the entry that introduced it (the override), not the bundled one.
 */
function indexAliases(
  models: ReadonlyMap<string, ModelPricing>,
  blamed: ReadonlySet<string>,
  pathPrefix: (id: string) => string,
): Map<string, string> {
  const index = new Map<string, string>();
  const order = [...models.values()].sort((a, b) => Number(blamed.has(a.id)) - Number(blamed.has(b.id)));
  for (const m of order) {
    m.aliases.forEach((alias, i) => {
      const path = `${pathPrefix(m.id)}.aliases[${i}]`;
      if (models.has(alias)) throw new PricingError(m.source, path, `"${alias}" is already a model id`);
      const owner = index.get(alias);
      if (owner !== undefined) {
        throw new PricingError(m.source, path, `"${alias}" is already an alias of ${owner}`);
      }
      index.set(alias, m.id);
    });
  }
  return index;
}

/** Parse and validate a whole pricing table. Throws PricingError naming `sourceName` and the key path. */
export function loadPriceTable(yamlText: string, sourceName: string): PriceTable {
  const root = parseRoot(parseYaml(yamlText, sourceName), sourceName);
  const models = new Map<string, ModelPricing>();
  for (const [id, raw] of Object.entries(root.models)) {
    models.set(id, freezeModel(parseModel(id, raw, sourceName, joinKey('models', id)).pricing));
  }
  if (models.size === 0) throw new PricingError(sourceName, 'models', 'must list at least one model');
  return Object.freeze({
    version: root.version,
    webSearchPicoPerRequest: root.webSearchPicoPerRequest,
    multipliers: Object.freeze(root.multipliers),
    models,
    aliases: indexAliases(models, new Set(), (id) => joinKey('models', id)),
  });
}

/**
 * Add or replace models from user config. An override entry replaces the whole base entry
 * (all dated rows), except that an entry with no `aliases` key keeps the base entry's aliases:
 * aliases are identity, not price, and dropping them silently would un-price `claude-sonnet-4-5`
 * for someone who only meant to change a rate. Write `aliases: []` to drop them.
 * Keys must be canonical ids; overriding an alias is rejected (it would be ambiguous).
 * `pathPrefix` is where the entries live in the user's file, for error paths.
 */
export function mergeOverrides(
  base: PriceTable,
  overrides: Record<string, unknown>,
  sourceName: string,
  pathPrefix = 'models',
): PriceTable {
  const models = new Map(base.models);
  const touched = new Set<string>();
  for (const [id, raw] of Object.entries(overrides)) {
    const path = joinKey(pathPrefix, id);
    const canonical = base.aliases.get(id);
    if (canonical !== undefined) {
      throw new PricingError(sourceName, path, `is an alias of ${canonical}; override the model id ${canonical}`);
    }
    const parsed = parseModel(id, raw, sourceName, path);
    const prev = base.models.get(id);
    const pricing = parsed.aliasesGiven || prev === undefined ? parsed.pricing : { ...parsed.pricing, aliases: [...prev.aliases] };
    models.set(id, freezeModel(pricing));
    touched.add(id);
  }
  return Object.freeze({
    ...base,
    models,
    aliases: indexAliases(models, touched, (id) => joinKey(touched.has(id) ? pathPrefix : 'models', id)),
  });
}

/** A user pricing file holds only `models:` entries (same shape as prices.yaml), merged over the bundled table. */
export function parseOverrideFile(yamlText: string, sourceName: string): Record<string, unknown> {
  const root = asObject(parseYaml(yamlText, sourceName), sourceName, '(document)');
  for (const k of Object.keys(root)) {
    if (k !== 'models') throw new PricingError(sourceName, joinKey('', k), 'unknown key (expected one of: models)');
  }
  if (root['models'] === undefined) throw new PricingError(sourceName, 'models', 'is required');
  return asObject(root['models'], sourceName, 'models');
}

/** The table shipped next to this module. Read from disk on each call: call it once at startup. */
export function bundledPriceTable(): PriceTable {
  return loadPriceTable(readFileSync(new URL('./prices.yaml', import.meta.url), 'utf8'), BUNDLED_SOURCE);
}
