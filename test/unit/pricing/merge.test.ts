import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { buildPriceTable, buildPricer } from '../../../src/pricing/build.ts';
import { computeCost } from '../../../src/pricing/cost.ts';
import { PricingError } from '../../../src/pricing/errors.ts';
import { bundledPriceTable, mergeOverrides, parseOverrideFile } from '../../../src/pricing/table.ts';
import { NOW, at, usage } from './fixtures.ts';

const base = bundledPriceTable();
const fixtures = fileURLToPath(new URL('../../fixtures/pricing/', import.meta.url));
const ROW = { input: 4, output: 20, cache_write_5m: 5, cache_write_1h: 8, cache_read: 0.4 };
const u = usage({ input: 1_000, output: 1_000 });

function rejects(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => e instanceof PricingError && e.message === message);
}

test('an override replaces that model, adds new ones, and leaves the base table untouched', () => {
  const t = mergeOverrides(
    base,
    {
      'claude-opus-5': { geo_us_applies: true, prices: [ROW] },
      'my-model': { aliases: ['mine'], geo_us_applies: false, prices: [{ ...ROW, input: 1 }] },
    },
    'claude-meter.yaml',
  );
  assert.equal(computeCost(t, 'claude-opus-5', u, NOW).costPicoUsd, 24_000_000_000); // 4e9 + 20e9
  assert.equal(computeCost(base, 'claude-opus-5', u, NOW).costPicoUsd, 30_000_000_000); // base unchanged
  assert.equal(computeCost(t, 'mine', u, NOW).costPicoUsd, 21_000_000_000);
  assert.equal(computeCost(t, 'claude-opus-4-8', u, NOW).costPicoUsd, 30_000_000_000);
  assert.equal(t.models.get('claude-opus-5')?.source, 'claude-meter.yaml');
  assert.equal(t.models.size, base.models.size + 1);
  assert.equal(t.version, base.version);
});

test('an override without `aliases` keeps the base aliases; `aliases: []` drops them', () => {
  const keep = mergeOverrides(base, { 'claude-sonnet-4-5-20250929': { geo_us_applies: false, prices: [ROW] } }, 'c.yaml');
  assert.equal(computeCost(keep, 'claude-sonnet-4-5', u, NOW).costPicoUsd, 24_000_000_000);
  assert.equal(keep.models.get('claude-sonnet-4-5-20250929')?.rows[0]?.longPrompt, null); // whole entry replaced
  const drop = mergeOverrides(base, { 'claude-sonnet-4-5-20250929': { aliases: [], geo_us_applies: false, prices: [ROW] } }, 'c.yaml');
  assert.equal(computeCost(drop, 'claude-sonnet-4-5', u, NOW).unpriced, true);
});

test('override errors name the override source and its key path', () => {
  rejects(
    () => mergeOverrides(base, { 'claude-sonnet-4-5': { geo_us_applies: false, prices: [ROW] } }, 'c.yaml', 'pricing.models'),
    'c.yaml: pricing error at pricing.models.claude-sonnet-4-5: is an alias of claude-sonnet-4-5-20250929; override the model id claude-sonnet-4-5-20250929',
  );
  rejects(
    () => mergeOverrides(base, { x: { aliases: ['claude-haiku-4-5'], geo_us_applies: false, prices: [ROW] } }, 'c.yaml', 'pricing.models'),
    'c.yaml: pricing error at pricing.models.x.aliases[0]: "claude-haiku-4-5" is already an alias of claude-haiku-4-5-20251001',
  );
  rejects(
    () => mergeOverrides(base, { 'claude-opus-5': { geo_us_applies: true, prices: [{ ...ROW, output: -2 }] } }, 'c.yaml', 'pricing.models'),
    'c.yaml: pricing error at pricing.models.claude-opus-5.prices[0].output: must not be negative, got -2',
  );
  rejects(
    () => mergeOverrides(base, { 'claude-opus-5': { geo_us_applies: true, prices: [{ ...ROW, outptu: 1 }] } }, 'c.yaml'),
    'c.yaml: pricing error at models.claude-opus-5.prices[0].outptu: unknown key (expected one of: input, output, cache_write_5m, cache_write_1h, cache_read, effective_from, effective_to, long_prompt, fast, source)',
  );
});

test('inline config rows as the yaml package parses them are accepted', () => {
  const inline = parse(
    'claude-opus-5:\n  geo_us_applies: true\n  prices:\n    - { input: 4, output: 20, cache_write_5m: 5, cache_write_1h: 8, cache_read: 0.4 }\n',
  ) as Record<string, unknown>;
  assert.equal(computeCost(mergeOverrides(base, inline, 'c.yaml'), 'claude-opus-5', u, NOW).costPicoUsd, 24_000_000_000);
});

test('a user pricing file holds only `models:`', () => {
  rejects(
    () => parseOverrideFile('version: "2026-11-27"\nmodels: {}\n', 'p.yaml'),
    'p.yaml: pricing error at version: unknown key (expected one of: models)',
  );
  rejects(() => parseOverrideFile('{}', 'p.yaml'), 'p.yaml: pricing error at models: is required');
});

test('buildPricer: bundled ← pricing.file (relative to the config file) ← inline pricing.models', () => {
  const config = {
    source: `${fixtures}claude-meter.yaml`,
    pricing: {
      file: 'override.yaml',
      models: { 'my-finetune-1': { geo_us_applies: false, prices: [{ ...ROW, input: 2 }] } },
    },
  };
  const pricer = buildPricer(config);
  assert.equal(pricer.version, '2026-12-07');
  assert.equal(pricer.price('claude-opus-5', u, NOW).costPicoUsd, 24_000_000_000); // from the file
  // inline replaced the file's entry but kept its alias (no `aliases` key inline)
  assert.equal(pricer.resolve('my-finetune'), 'my-finetune-1');
  assert.equal(pricer.price('my-finetune', u, NOW).costPicoUsd, 22_000_000_000);
  // the file's dated row is gone with the replacement; the inline row is open-ended
  assert.equal(pricer.price('my-finetune', u, at('2026-01-01')).unpriced, false);
  assert.equal(buildPriceTable({ source: null, pricing: { file: null, models: {} } }).models.size, base.models.size);
});

test('buildPricer errors name the pricing file', () => {
  const bad = `${fixtures}bad-override.yaml`;
  rejects(
    () => buildPricer({ source: null, pricing: { file: bad, models: {} } }),
    `${bad}: pricing error at version: unknown key (expected one of: models)`,
  );
  assert.throws(
    () => buildPricer({ source: `${fixtures}x.yaml`, pricing: { file: 'missing.yaml', models: {} } }),
    (e: unknown) =>
      e instanceof PricingError && e.source === `${fixtures}missing.yaml` && /cannot read pricing file: ENOENT/.test(e.message),
  );
});
