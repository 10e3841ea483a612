/**
 * The status page formats money in the browser (src/http/status/chart.js, no build step), so it
 * carries its own copy of the currency symbols: it must print what the proxy prints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CURRENCY_SYMBOLS, currencySymbol } from '../../../src/core/money.ts';

interface ChartModule {
  money(v: number | null, currency: string): string;
  symbol(currency: string): string;
}

// A browser module, loaded as one (a computed specifier: the type checker does not read .js).
const chart = (await import(new URL('../../../src/http/status/chart.js', import.meta.url).href)) as ChartModule;

test("the page's currency symbols are src/core/money.ts's, and an unknown code prints as itself", () => {
  for (const code of [...Object.keys(CURRENCY_SYMBOLS), 'CHF', 'XYZ']) assert.equal(chart.symbol(code), currencySymbol(code), code);
});

test('money on the page: the currency symbol, grouped, 2 decimals, 4 below one unit, a dash for none', () => {
  assert.equal(chart.money(3000, 'CNY'), '¥3,000.00');
  assert.equal(chart.money(0.0042, 'CNY'), '¥0.0042');
  assert.equal(chart.money(1234.5, 'USD'), '$1,234.50');
  assert.equal(chart.money(0, 'USD'), '$0.00');
  assert.equal(chart.money(-2, 'EUR'), '-€2.00');
  assert.equal(chart.money(12, 'CHF'), 'CHF 12.00');
  assert.equal(chart.money(null, 'CNY'), '—');
});
