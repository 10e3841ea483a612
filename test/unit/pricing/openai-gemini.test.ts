import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TablePricer, computeCost } from '../../../src/pricing/cost.ts';
import { PricingError } from '../../../src/pricing/errors.ts';
import { bundledPriceTable, loadPriceTable } from '../../../src/pricing/table.ts';
import { NOW, STD_ROW, oneModel, usage } from './fixtures.ts';

// Hand arithmetic from the source rates: $X/MTok = X·1e6 pico-USD per token.
const table = bundledPriceTable();
const cost = (model: string, u: Parameters<typeof usage>[0]) => computeCost(table, model, usage(u), NOW);

// One fixed usage for every row: 100k fresh input, 20k cached input (OpenAI `cached_tokens`,
// Gemini `cachedContentTokenCount`), 10k output. Cost = 100k·in + 20k·read + 10k·out.
const FIXED = { input: 100_000, cacheRead: 20_000, output: 10_000 };

const EXPECTED: Record<string, number> = {
  // $2 / $0.50 / $8: 2e11 + 1e10 + 8e10
  'gpt-4.1': 290_000_000_000,
  // $0.40 / $0.10 / $1.60: 4e10 + 2e9 + 1.6e10
  'gpt-4.1-mini': 58_000_000_000,
  // $0.10 / $0.025 / $0.40: 1e10 + 5e8 + 4e9
  'gpt-4.1-nano': 14_500_000_000,
  // $1.25 / $0.125 / $10: 1.25e11 + 2.5e9 + 1e11
  'gpt-5': 227_500_000_000,
  // $0.25 / $0.025 / $2: 2.5e10 + 5e8 + 2e10
  'gpt-5-mini': 45_500_000_000,
  // $0.05 / $0.005 / $0.40: 5e9 + 1e8 + 4e9
  'gpt-5-nano': 9_100_000_000,
  // $5 / $0.50 / $30: 5e11 + 1e10 + 3e11
  'gpt-5.5': 810_000_000_000,
  // $2.50 / $0.25 / $15: 2.5e11 + 5e9 + 1.5e11
  'gpt-5.4': 405_000_000_000,
  // $0.75 / $0.075 / $4.50: 7.5e10 + 1.5e9 + 4.5e10
  'gpt-5.4-mini': 121_500_000_000,
  // $0.20 / $0.02 / $1.25: 2e10 + 4e8 + 1.25e10
  'gpt-5.4-nano': 32_900_000_000,
  // $2 / $0.50 / $8: as gpt-4.1
  o3: 290_000_000_000,
  // $1.10 / $0.275 / $4.40: 1.1e11 + 5.5e9 + 4.4e10
  'o4-mini': 159_500_000_000,
  // $1.10 / $0.55 / $4.40: 1.1e11 + 1.1e10 + 4.4e10
  'o3-mini': 165_000_000_000,
  // $15 / $7.50 / $60: 1.5e12 + 1.5e11 + 6e11
  o1: 2_250_000_000_000,
  // 120k prompt ≤ 200k, base card $1.25 / $0.125 / $10: 1.25e11 + 2.5e9 + 1e11
  'gemini-2.5-pro': 227_500_000_000,
  // $0.30 / $0.03 / $2.50: 3e10 + 6e8 + 2.5e10
  'gemini-2.5-flash': 55_600_000_000,
  // $0.10 / $0.025 / $0.40: 1e10 + 5e8 + 4e9
  'gemini-2.5-flash-lite': 14_500_000_000,
};

test('every OpenAI and Gemini row prices the fixed usage exactly', () => {
  const bundled = [...table.models.keys()].filter((id) => !id.startsWith('claude-'));
  assert.deepEqual(bundled.sort(), Object.keys(EXPECTED).sort(), 'every non-Claude row has a hand-computed figure');
  for (const [id, pico] of Object.entries(EXPECTED)) {
    assert.deepEqual(
      cost(id, FIXED),
      { costPicoUsd: pico, unpriced: false, resolvedModel: id, tier: 'base', cacheSavingsPicoUsd: savings(id) },
      id,
    );
  }
});

/** 20k cached tokens × (input − cached input), from the same source rates. */
function savings(id: string): number {
  const perToken: Record<string, number> = {
    'gpt-4.1': 1_500_000,
    'gpt-4.1-mini': 300_000,
    'gpt-4.1-nano': 75_000,
    'gpt-5': 1_125_000,
    'gpt-5-mini': 225_000,
    'gpt-5-nano': 45_000,
    'gpt-5.5': 4_500_000,
    'gpt-5.4': 2_250_000,
    'gpt-5.4-mini': 675_000,
    'gpt-5.4-nano': 180_000,
    o3: 1_500_000,
    'o4-mini': 825_000,
    'o3-mini': 550_000,
    o1: 7_500_000,
    'gemini-2.5-pro': 1_125_000,
    'gemini-2.5-flash': 270_000,
    'gemini-2.5-flash-lite': 75_000,
  };
  return 20_000 * (perToken[id] as number);
}

test('before gpt-5.6 a cache write costs what plain input costs', () => {
  // 10k written tokens at gpt-5's input rate $1.25: 1.25e10, the same as 10k fresh input
  assert.equal(cost('gpt-5', { cacheCreation: 10_000 }).costPicoUsd, 12_500_000_000);
  assert.equal(cost('gpt-5', { input: 10_000 }).costPicoUsd, 12_500_000_000);
  assert.equal(cost('gemini-2.5-flash', { cacheCreation: 10_000, cacheCreation1h: 10_000 }).costPicoUsd, 3_000_000_000);
});

test('Gemini 2.5 Pro above 200k prompt tokens reprices the whole request, cached tokens counted', () => {
  // 140k + 60k cached = 200,000: not above, base card: 1.75e11 + 7.5e9 + 1e11
  const edge = cost('gemini-2.5-pro', { input: 140_000, cacheRead: 60_000, output: 10_000 });
  assert.equal(edge.tier, 'base');
  assert.equal(edge.costPicoUsd, 282_500_000_000);
  // 150k + 60k cached = 210k: $2.50 / $0.25 / $15 on all of it: 3.75e11 + 1.5e10 + 1.5e11
  const long = cost('gemini-2.5-pro', { input: 150_000, cacheRead: 60_000, output: 10_000 });
  assert.equal(long.tier, 'long_prompt');
  assert.equal(long.costPicoUsd, 540_000_000_000);
  // Flash has no long-context tier
  assert.equal(cost('gemini-2.5-flash', { input: 300_000 }).tier, 'base');
});

test('GPT-5.5 and GPT-5.4 above 272K input tokens: 2x input, 1.5x output on the whole request', () => {
  // 272,000: base $5 / $30: 1.36e12 + 3e10
  assert.equal(cost('gpt-5.5', { input: 272_000, output: 1_000 }).costPicoUsd, 1_390_000_000_000);
  // 272,001: $10 / $45: 2,720,010,000,000 + 4.5e10
  const long = cost('gpt-5.5', { input: 272_001, output: 1_000 });
  assert.equal(long.tier, 'long_prompt');
  assert.equal(long.costPicoUsd, 2_765_010_000_000);
  // gpt-5.4: 200k + 100k cached > 272K: $5 / $0.50 cached / $22.50: 1e12 + 5e10 + 2.25e10
  assert.equal(cost('gpt-5.4', { input: 200_000, cacheRead: 100_000, output: 1_000 }).costPicoUsd, 1_072_500_000_000);
});

test('dated snapshot ids resolve to their model', () => {
  const pricer = new TablePricer(table);
  for (const [alias, id] of [
    ['gpt-4.1-2025-04-14', 'gpt-4.1'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['gpt-4.1-nano-2025-04-14', 'gpt-4.1-nano'],
    ['gpt-5-2025-08-07', 'gpt-5'],
    ['gpt-5-mini-2025-08-07', 'gpt-5-mini'],
    ['gpt-5-nano-2025-08-07', 'gpt-5-nano'],
    ['gpt-5.4-2026-03-05', 'gpt-5.4'],
    ['gpt-5.4-mini-2026-03-17', 'gpt-5.4-mini'],
    ['gpt-5.4-nano-2026-03-17', 'gpt-5.4-nano'],
    ['o3-2025-04-16', 'o3'],
    ['o4-mini-2025-04-16', 'o4-mini'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['o1-2024-12-17', 'o1'],
  ]) {
    assert.equal(pricer.resolve(alias as string), id, alias);
  }
});

test('models with no citable price stay unpriced, never $0', () => {
  for (const id of [
    'gpt-5.6-sol',
    'gpt-5.6-terra',
    'gpt-5.6-luna',
    'gpt-6-astra',
    'gpt-5.1',
    'o3-pro',
    'gemini-3-pro-preview',
    'gpt-4.1-turbo',
  ]) {
    assert.deepEqual(cost(id, FIXED), { costPicoUsd: 0, unpriced: true, resolvedModel: null, tier: null }, id);
  }
});

test('every non-Claude row cites its source: an https address and the day it was read', () => {
  let rows = 0;
  for (const m of table.models.values()) {
    if (m.id.startsWith('claude-')) continue;
    assert.equal(m.geoUsApplies, false, m.id);
    for (const row of m.rows) {
      rows++;
      assert.match(row.citation?.url ?? '', /^https:\/\/\S+$/, m.id);
      assert.match(row.citation?.read ?? '', /^\d{4}-\d{2}-\d{2}$/, m.id);
    }
  }
  assert.equal(rows, 17);
});

test('a row source is validated like every other key', () => {
  const reject = (src: string, message: string) =>
    assert.throws(
      () => loadPriceTable(oneModel('m', `${STD_ROW}, source: ${src}`), 't.yaml'),
      (e: unknown) => e instanceof PricingError && e.message === message,
    );
  reject(
    '{ url: "ftp://x", read: "2026-12-07" }',
    't.yaml: pricing error at models.m.prices[0].source.url: must be an http(s) address, got string "ftp://x"',
  );
  reject('{ url: "https://x" }', 't.yaml: pricing error at models.m.prices[0].source.read: is required');
  reject(
    '{ url: "https://x", read: "7 Dec" }',
    `t.yaml: pricing error at models.m.prices[0].source.read: must be a date 'YYYY-MM-DD' (quoted), got string "7 Dec"`,
  );
  reject(
    '{ url: "https://x", read: "2026-12-07", by: me }',
    't.yaml: pricing error at models.m.prices[0].source.by: unknown key (expected one of: url, read)',
  );
  const t = loadPriceTable(oneModel('m', `${STD_ROW}, source: { url: "https://example.com/p", read: "2026-12-07" }`), 't.yaml');
  assert.deepEqual(t.models.get('m')?.rows[0]?.citation, { url: 'https://example.com/p', read: '2026-12-07' });
});
