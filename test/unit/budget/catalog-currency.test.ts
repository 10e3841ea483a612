/** The catalog reads a budget's currency and upstream filters: refs carry the currency their limit and amounts are in. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { budget } from '../../helpers/budget-config.ts';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
const config = loadConfig({ file: fileURLToPath(new URL('../../fixtures/config/currency-match-upstream.yaml', import.meta.url)), env: {} });
const NOW = Date.UTC(2026, 10, 2, 12);
const req = (upstream: string) => ({ keyId: 'k', tag: '', model: 'claude-haiku-4-5', path: '/v1/messages', upstream });

test('match.upstream selects by upstream name; per_upstream counts one instance per upstream; limits in the budget currency', () => {
  const catalog = new BudgetCatalog(config.budgets, () => pricer);
  const view = (upstream: string) =>
    catalog.refsFor(req(upstream), NOW).refs.map((r) => [r.budget, r.instance, r.currency, r.limitPico, r.limitTokens]);
  assert.deepEqual(view('holysheep'), [
    ['holysheep-cny', '*', 'CNY', 3000e12, null],
    ['org-usd', '*', 'USD', 500e12, null],
    ['per-upstream-cny', 'holysheep', 'CNY', 700.5e12, null],
  ]);
  assert.deepEqual(view('default'), [
    ['org-usd', '*', 'USD', 500e12, null],
    ['per-upstream-cny', 'default', 'CNY', 700.5e12, null],
  ]);
});

test('a tokens-only budget counts USD by convention, with no money limit', () => {
  const catalog = new BudgetCatalog([budget({ name: 'tok', limit_tokens: 1000 })], () => pricer);
  const [ref] = catalog.refsFor(req('default'), NOW).refs;
  assert.deepEqual([ref?.currency, ref?.limitPico, ref?.limitTokens], ['USD', null, 1000]);
});
