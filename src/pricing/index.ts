/** Public surface of pricing: load a table, resolve model ids, price a request, bill it in an upstream's currency. */
export { PricingError } from './errors.ts';
export { BUNDLED_SOURCE, bundledPriceTable, loadPriceTable, mergeOverrides, parseOverrideFile } from './table.ts';
export { normaliseModelId, resolveModel } from './resolve.ts';
export { TablePricer, computeCost, selectRow } from './cost.ts';
export { buildPriceTable, buildPricer } from './build.ts';
export { buildBiller, listBiller } from './billing.ts';
export type * from './types.ts';
