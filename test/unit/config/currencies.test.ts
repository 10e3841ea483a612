/**
 * Currencies in the config: each exchange rate is a usable exact pair, and a budget that would
 * need a rate nobody configured is an error naming the budget and both currencies (it could not
 * count spend billed in the other one). One fixture per message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../../src/config/load.ts';
import { assertConfigError } from './helpers.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url));

const failures: Array<[file: string, keyPath: string, reason: string]> = [
  ['currency-rate-bad-pair.yaml', 'exchange_rates.usd_cny', "expected FROM_TO with two ISO 4217 codes (e.g. USD_CNY), got 'usd_cny'"],
  ['currency-rate-itself.yaml', 'exchange_rates.USD_USD', 'converts USD to itself'],
  [
    'currency-rate-precision.yaml',
    'exchange_rates.USD_CNY',
    'has more than 6 decimal places (7.1234567), so it is not an exact integer in pico-units',
  ],
  [
    'currency-budget-needs-rate.yaml',
    'budgets[0].currency',
    "budget 'team-cny' counts CNY but upstream 'default' bills USD: add exchange_rates.USD_CNY (or CNY_USD), or limit the budget with match.upstream",
  ],
  [
    'currency-usd-budget-cny-upstream.yaml',
    'budgets[0]',
    "budget 'org' counts USD but upstream 'holysheep' bills CNY: add exchange_rates.CNY_USD (or USD_CNY), or limit the budget with match.upstream",
  ],
  [
    'currency-tokens-budget.yaml',
    'budgets[0]',
    "budget 'tokens' counts USD (a tokens-only budget counts its spend in USD) but upstream 'holysheep' bills CNY: add exchange_rates.CNY_USD (or USD_CNY), or limit the budget with match.upstream",
  ],
];

for (const [name, keyPath, reason] of failures) {
  test(`fixture ${name}: ${keyPath}: ${reason}`, () => {
    const file = fixture(name);
    const err = assertConfigError(() => loadConfig({ file, env: {} }), `${file}: config error at ${keyPath}: ${reason}`);
    assert.equal(err.keyPath, keyPath);
    assert.equal(err.reason, reason);
  });
}

test('a budget limited by match.upstream to upstreams billing its currency needs no rate; a rate in either direction serves', () => {
  const c = loadConfig({ file: fixture('currency-match-upstream.yaml'), env: {} });
  assert.deepEqual(
    c.budgets.map((b) => [b.name, b.scope, b.limit, b.currency, b.limit_usd, b.match.upstream]),
    [
      ['holysheep-cny', 'global', 3000, 'CNY', null, ['holysheep']],
      ['org-usd', 'global', null, null, 500, []],
      ['per-upstream-cny', 'per_upstream', 700.5, 'CNY', null, []],
    ],
  );
  assert.deepEqual(c.exchange_rates, { CNY_USD: 0.14 });
});

test('the same config without its rate is refused, at the first budget that needs it', () => {
  const text = `
upstreams:
  - { name: holysheep, url: 'https://api.holysheep.example', api: anthropic, route: /holysheep, billing: { currency: CNY } }
budgets:
  - { name: holysheep-cny, limit: 3000, currency: CNY, match: { upstream: holysheep } }
  - { name: per-upstream-cny, scope: per_upstream, limit: 700.5, currency: CNY }
`;
  const file = '/etc/cm/inline.yaml';
  assertConfigError(
    () => loadConfig({ file, env: {}, readFile: () => text }),
    `${file}: config error at budgets[1].currency: budget 'per-upstream-cny' counts CNY but upstream 'default' bills USD: add exchange_rates.USD_CNY (or CNY_USD), or limit the budget with match.upstream`,
  );
});
