import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PricingError } from '../../../src/pricing/errors.ts';
import { bundledPriceTable, loadPriceTable } from '../../../src/pricing/table.ts';
import { STD_ROW, oneModel, tableYaml } from './fixtures.ts';

/** Asserts the load fails with exactly this message (source, key path and reason). */
function rejects(yaml: string, message: string): void {
  assert.throws(
    () => loadPriceTable(yaml, 't.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof PricingError);
      assert.equal(e.message, message);
      return true;
    },
  );
}

const ROW_KEYS = 'input, output, cache_write_5m, cache_write_1h, cache_read, effective_from, effective_to, long_prompt, fast, source';

test('bundled table: version, web search, multipliers and every bundled model', () => {
  const t = bundledPriceTable();
  assert.equal(t.version, '2026-12-07');
  assert.equal(t.webSearchPicoPerRequest, 10_000_000_000); // $10 / 1,000 = $0.01
  for (const id of [
    'claude-fable-5-2',
    'claude-fable-5-1',
    'claude-mythos-5-1',
    'claude-fable-5',
    'claude-mythos-5',
    'claude-opus-5-5',
    'claude-opus-5',
    'claude-opus-4-8',
    'claude-opus-4-7',
    'claude-opus-4-6',
    'claude-opus-4-5-20251101',
    'claude-opus-4-1-20250805',
    'claude-opus-4-20250514',
    'claude-sonnet-5-5',
    'claude-sonnet-5',
    'claude-sonnet-4-6',
    'claude-sonnet-4-5-20250929',
    'claude-sonnet-4-20250514',
    'claude-3-7-sonnet-20250219',
    'claude-haiku-5-5',
    'claude-haiku-4-5-20251001',
    'claude-3-5-haiku-20241022',
    'claude-3-haiku-20240307',
    'claude-3-opus-20240229',
    // OpenAI and Gemini, as relays serve them (openai-gemini.test.ts prices each)
    'gpt-4.1',
    'gpt-4.1-mini',
    'gpt-4.1-nano',
    'gpt-5',
    'gpt-5-mini',
    'gpt-5-nano',
    'gpt-5.4',
    'gpt-5.4-mini',
    'gpt-5.4-nano',
    'gpt-5.5',
    'o1',
    'o3',
    'o3-mini',
    'o4-mini',
    'gemini-2.5-pro',
    'gemini-2.5-flash',
    'gemini-2.5-flash-lite',
  ]) {
    assert.ok(t.models.has(id), id);
  }
  assert.equal(t.models.size, 41);
  assert.equal(t.models.has('claude-mythos-preview'), false); // no public price: unpriced
  // geo surcharge on 4.6+ only
  assert.equal(t.models.get('claude-opus-4-6')?.geoUsApplies, true);
  assert.equal(t.models.get('claude-sonnet-4-5-20250929')?.geoUsApplies, false);
  assert.ok(Object.isFrozen(t) && Object.isFrozen(t.models.get('claude-opus-5')?.rows[0]));
});

test('rates convert once, exactly, to pico-USD per token', () => {
  const t = loadPriceTable(
    oneModel('m', 'input: 0.125, output: 22.5, cache_write_5m: 0.000001, cache_write_1h: 0.3, cache_read: 0.1'),
    't.yaml',
  );
  assert.deepEqual(t.models.get('m')?.rows[0]?.base, {
    input: 125_000,
    output: 22_500_000,
    cacheWrite5m: 1,
    cacheWrite1h: 300_000,
    cacheRead: 100_000,
  });
});

test('unknown keys are rejected with their path', () => {
  rejects(
    oneModel('claude-opus-5', `${STD_ROW}, inptu: 5`),
    `t.yaml: pricing error at models.claude-opus-5.prices[0].inptu: unknown key (expected one of: ${ROW_KEYS})`,
  );
  rejects(
    oneModel('claude-opus-5', STD_ROW, '    geo: true\n'),
    't.yaml: pricing error at models.claude-opus-5.geo: unknown key (expected one of: geo_us_applies, prices, aliases)',
  );
  rejects(
    `extra: 1\n${oneModel('m', STD_ROW)}`,
    't.yaml: pricing error at extra: unknown key (expected one of: version, web_search_per_1k_usd, multipliers, models)',
  );
});

test('negative rate', () => {
  rejects(
    oneModel('claude-opus-5', STD_ROW.replace('input: 5', 'input: -1')),
    't.yaml: pricing error at models.claude-opus-5.prices[0].input: must not be negative, got -1',
  );
});

test('more than 6 decimal places cannot be exact pico-USD', () => {
  rejects(
    oneModel('claude-opus-5', STD_ROW.replace('cache_read: 0.5', 'cache_read: 0.1234567')),
    't.yaml: pricing error at models.claude-opus-5.prices[0].cache_read: has more than 6 decimal places (0.1234567), so it is not an exact integer in pico-USD',
  );
  rejects(
    oneModel('claude-opus-5', STD_ROW.replace('cache_read: 0.5', 'cache_read: 0.0000001')),
    't.yaml: pricing error at models.claude-opus-5.prices[0].cache_read: has more than 6 decimal places (1e-7), so it is not an exact integer in pico-USD',
  );
});

test('bad dates', () => {
  rejects(
    oneModel('claude-opus-5', `effective_from: "2026-02-30", ${STD_ROW}`),
    `t.yaml: pricing error at models.claude-opus-5.prices[0].effective_from: must be a date 'YYYY-MM-DD' (quoted), got string "2026-02-30"`,
  );
  rejects(
    oneModel('claude-opus-5', `effective_to: "26-10-07", ${STD_ROW}`),
    `t.yaml: pricing error at models.claude-opus-5.prices[0].effective_to: must be a date 'YYYY-MM-DD' (quoted), got string "26-10-07"`,
  );
  rejects(
    oneModel('claude-opus-5', `effective_from: "2026-10-07", effective_to: "2026-10-07", ${STD_ROW}`),
    't.yaml: pricing error at models.claude-opus-5.prices[0].effective_to: must be after effective_from (2026-10-07)',
  );
  rejects(
    tableYaml('  m:\n    geo_us_applies: false\n    prices: []\n').replace('"2026-11-27"', 'soon'),
    `t.yaml: pricing error at version: must be a date 'YYYY-MM-DD' (quoted), got string "soon"`,
  );
});

test('overlapping dated rows are ambiguous', () => {
  const yaml = tableYaml(
    [
      '  m:',
      '    geo_us_applies: true',
      '    prices:',
      `      - { effective_from: "2026-10-07", ${STD_ROW} }`,
      `      - { effective_to: "2026-10-08", ${STD_ROW} }`,
    ].join('\n'),
  );
  rejects(yaml, 't.yaml: pricing error at models.m.prices[0]: overlaps prices[1] (open..2026-10-08); rows must not overlap');
});

test('type and shape errors name the key', () => {
  rejects(
    oneModel('m', STD_ROW.replace('input: 5', 'input: "5"')),
    't.yaml: pricing error at models.m.prices[0].input: must be a number, got string "5"',
  );
  rejects(oneModel('m', STD_ROW.replace('output: 25, ', '')), 't.yaml: pricing error at models.m.prices[0].output: is required');
  rejects(
    tableYaml('  m:\n    geo_us_applies: yes\n    prices: []\n'),
    't.yaml: pricing error at models.m.geo_us_applies: must be true or false, got string "yes"',
  );
  rejects(
    tableYaml('  m:\n    geo_us_applies: true\n    prices: []\n'),
    't.yaml: pricing error at models.m.prices: must be a non-empty list of price rows, got a list',
  );
  rejects(
    oneModel('claude-3.5-sonnet', STD_ROW.replace('input: 5', 'input: -5')),
    't.yaml: pricing error at models["claude-3.5-sonnet"].prices[0].input: must not be negative, got -5',
  );
  rejects(
    oneModel('m', `${STD_ROW}, long_prompt: { threshold_tokens: 0, ${STD_ROW} }`),
    't.yaml: pricing error at models.m.prices[0].long_prompt.threshold_tokens: must be a positive integer, got number 0',
  );
  rejects(oneModel('m', `${STD_ROW}, fast: { input: 1 }`), 't.yaml: pricing error at models.m.prices[0].fast.output: is required');
  rejects(oneModel('m', STD_ROW).replace('batch: 0.5', 'batch: 0'), 't.yaml: pricing error at multipliers.batch: must be greater than 0');
  rejects(
    oneModel('m', STD_ROW.replace('input: 5', 'input: 20000')),
    't.yaml: pricing error at models.m.prices[0].input: must be at most 10000, got 20000',
  );
});

test('aliases may not shadow a model id or be claimed twice', () => {
  const two = (aliasesA: string, aliasesB: string) =>
    tableYaml(
      [
        `  a:\n    aliases: [${aliasesA}]\n    geo_us_applies: false\n    prices:\n      - { ${STD_ROW} }`,
        `  b:\n    aliases: [${aliasesB}]\n    geo_us_applies: false\n    prices:\n      - { ${STD_ROW} }`,
      ].join('\n'),
    );
  rejects(two('x', 'x'), 't.yaml: pricing error at models.b.aliases[0]: "x" is already an alias of a');
  rejects(two('b', 'y'), 't.yaml: pricing error at models.a.aliases[0]: "b" is already a model id');
  rejects(two('x, x', 'y'), 't.yaml: pricing error at models.a.aliases[1]: duplicate alias "x"');
});

test('YAML syntax errors and duplicate keys are PricingErrors on the document', () => {
  assert.throws(() => loadPriceTable('version: [', 't.yaml'), /^PricingError: t\.yaml: pricing error at \(document\): invalid YAML: /);
  assert.throws(
    () => loadPriceTable(`${oneModel('m', STD_ROW)}\nversion: "2026-01-01"\n`, 't.yaml'),
    /t\.yaml: pricing error at \(document\): invalid YAML: Map keys must be unique/,
  );
  rejects('- 1', 't.yaml: pricing error at (document): must be a mapping, got a list');
});
