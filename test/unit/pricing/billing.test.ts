import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatMoney } from '../../../src/core/money.ts';
import { buildBiller, listBiller } from '../../../src/pricing/billing.ts';
import { TablePricer } from '../../../src/pricing/cost.ts';
import { PricingError } from '../../../src/pricing/errors.ts';
import { bundledPriceTable, loadPriceTable } from '../../../src/pricing/table.ts';
import type { BillingConfig } from '../../../src/pricing/types.ts';
import { NOW, at, oneModel, usage } from './fixtures.ts';

// Hand arithmetic: $X/MTok = X·1e6 pico per token, in whichever currency the rate is written.
const list = new TablePricer(bundledPriceTable());
const dir = mkdtempSync(join(tmpdir(), 'cm-billing-'));
const CONFIG = join(dir, 'claude-meter.yaml'); // only its directory matters

function billing(over: Partial<BillingConfig> & { file?: string | null; models?: Record<string, unknown> }): BillingConfig {
  return {
    currency: over.currency ?? 'CNY',
    list_price_factor: over.list_price_factor === undefined ? 1 : over.list_price_factor,
    pricing: { file: over.file ?? null, models: over.models ?? {} },
  };
}

function relayFile(name: string, yaml: string): string {
  writeFileSync(join(dir, name), yaml);
  return name; // relative: resolved against the config file's directory
}

function rejects(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PricingError, String(e));
    assert.equal(e.message, message);
    return true;
  });
}

// Opus 5, 1,000 in / 500 out: 1000 × 5e6 + 500 × 25e6 = 17.5e9 pico-USD ($0.0175)
const OPUS = usage({ input: 1_000, output: 500 });

test('listBiller: the list result, in USD, same numbers', () => {
  const b = listBiller(list);
  assert.equal(b.currency, 'USD');
  const r = list.price('claude-opus-5', OPUS, NOW);
  assert.deepEqual(b.bill('claude-opus-5', OPUS, NOW), { ...r, currency: 'USD', billedPico: 17_500_000_000, billedUnpriced: false });
  const unknown = b.bill('gpt-9', OPUS, NOW);
  assert.deepEqual([unknown.unpriced, unknown.billedUnpriced, unknown.billedPico], [true, true, 0]);
  // the default upstream (USD, factor 1, no own rows) is billed exactly so
  const d = buildBiller({ currency: 'USD', list_price_factor: 1, pricing: { file: null, models: {} } }, list, null);
  assert.deepEqual(d.bill('claude-opus-5', OPUS, NOW), b.bill('claude-opus-5', OPUS, NOW));
});

test('HolySheep: factor 1 in CNY bills $1 of list price as ¥1', () => {
  const b = buildBiller(billing({ list_price_factor: 1 }), list, CONFIG);
  assert.equal(b.currency, 'CNY');
  // Opus 5 input 200,000 × 5e6 = 1e12 pico-USD = $1.00
  const r = b.bill('claude-opus-5', usage({ input: 200_000 }), NOW);
  assert.equal(r.costPicoUsd, 1_000_000_000_000);
  assert.equal(r.billedPico, 1_000_000_000_000);
  assert.equal(r.currency, 'CNY');
  assert.equal(formatMoney(r.billedPico, r.currency), '¥1.00');
});

test('factor 7.3: list × 73/10, the list price unchanged beside it', () => {
  const r = buildBiller(billing({ list_price_factor: 7.3 }), list, CONFIG).bill('claude-opus-5', OPUS, NOW);
  assert.equal(r.costPicoUsd, 17_500_000_000); // $0.0175
  assert.equal(r.billedPico, 127_750_000_000); // 17.5e9 × 7.3 = ¥0.12775
  assert.equal(r.tier, 'base');
  assert.equal(r.resolvedModel, 'claude-opus-5');
});

test("a relay pricing file in CNY: the upstream's own rows, relative to the config file", () => {
  const file = relayFile(
    'relay-cny.yaml',
    [
      'models:',
      '  claude-opus-5:',
      '    geo_us_applies: true',
      '    prices:',
      '      - { input: 30, output: 150, cache_write_5m: 37.5, cache_write_1h: 60, cache_read: 3 }',
      '  claude-sonnet-4-5-20250929:',
      '    geo_us_applies: false',
      '    prices:',
      '      - { input: 20, output: 100, cache_write_5m: 25, cache_write_1h: 40, cache_read: 2 }',
      '  deepseek-v3:',
      '    aliases: [deepseek-chat]',
      '    geo_us_applies: false',
      '    prices:',
      '      - { input: 2, output: 8, cache_write_5m: 2, cache_write_1h: 2, cache_read: 0.5 }',
    ].join('\n'),
  );
  const b = buildBiller(billing({ file, list_price_factor: null }), list, CONFIG);
  // ¥30 / ¥150: 1000 × 30e6 + 500 × 150e6 = 3e10 + 7.5e10
  const opus = b.bill('claude-opus-5', OPUS, NOW);
  assert.deepEqual([opus.costPicoUsd, opus.billedPico, opus.billedUnpriced], [17_500_000_000, 105_000_000_000, false]);
  // the list alias resolves to the canonical id the relay keyed its row by: 1000 × 20e6 + 500 × 100e6
  assert.equal(b.bill('claude-sonnet-4-5', OPUS, NOW).billedPico, 70_000_000_000);
  // as do Bedrock spellings: us.anthropic.…-v1:0
  assert.equal(b.bill('us.anthropic.claude-sonnet-4-5-20250929-v1:0', OPUS, NOW).billedPico, 70_000_000_000);
  // a model only the relay sells: list unpriced, billed by its row (and its own alias): 1000 × 2e6 + 500 × 8e6
  const ds = b.bill('deepseek-chat', OPUS, NOW);
  assert.deepEqual([ds.unpriced, ds.costPicoUsd, ds.billedUnpriced, ds.billedPico], [true, 0, false, 6_000_000_000]);
  // batch is half price on own rows too: 1.05e11 / 2
  assert.equal(b.bill('claude-opus-5', usage({ input: 1_000, output: 500, serviceTier: 'batch' }), NOW).billedPico, 52_500_000_000);
});

test('precedence: own row, else list × factor; inline rows replace file rows; a row not in force yields to the factor', () => {
  const file = relayFile(
    'relay-precedence.yaml',
    'models:\n  claude-opus-5:\n    geo_us_applies: true\n    prices:\n      - { input: 30, output: 150, cache_write_5m: 37.5, cache_write_1h: 60, cache_read: 3 }\n',
  );
  const haiku = {
    geo_us_applies: false,
    prices: [{ effective_from: '2026-12-01', input: 7, output: 35, cache_write_5m: 8.75, cache_write_1h: 14, cache_read: 0.7 }],
  };
  const b = buildBiller(
    billing({
      file,
      list_price_factor: 7.3,
      models: {
        'claude-opus-5': {
          geo_us_applies: true,
          prices: [{ input: 36, output: 180, cache_write_5m: 45, cache_write_1h: 72, cache_read: 3.6 }],
        },
        'claude-haiku-4-5-20251001': haiku,
      },
    }),
    list,
    CONFIG,
  );
  // inline ¥36/¥180 wins over the file's ¥30/¥150: 3.6e10 + 9e10
  assert.equal(b.bill('claude-opus-5', OPUS, NOW).billedPico, 126_000_000_000);
  // no own row: Opus 4.8 at list × 7.3 (same card as Opus 5): 17.5e9 × 7.3
  assert.equal(b.bill('claude-opus-4-8', OPUS, NOW).billedPico, 127_750_000_000);
  // Haiku 4.5's own row starts 2026-12-01: before it, list × 7.3 (1000 × 1e6 + 500 × 5e6 = 3.5e9 → 25.55e9)
  assert.equal(b.bill('claude-haiku-4-5', OPUS, at('2026-11-30')).billedPico, 25_550_000_000);
  // from it, ¥7/¥35: 7e9 + 17.5e9
  assert.equal(b.bill('claude-haiku-4-5', OPUS, at('2026-12-01')).billedPico, 24_500_000_000);
});

test('half to even, once per record, at the .5 boundary both ways', () => {
  // A list card of 1 pico-USD per token, so the list figure is the token count.
  const tiny = new TablePricer(
    loadPriceTable(
      oneModel('m', 'input: 0.000001, output: 0.000001, cache_write_5m: 0.000001, cache_write_1h: 0.000001, cache_read: 0.000001'),
      't.yaml',
    ),
  );
  const billed = (factor: number, u: Parameters<typeof usage>[0]) =>
    buildBiller(billing({ list_price_factor: factor }), tiny, CONFIG).bill('m', usage(u), NOW).billedPico;
  // × 1/2: 1 → 0.5 → 0, 3 → 1.5 → 2, 5 → 2.5 → 2, 7 → 3.5 → 4
  assert.deepEqual(
    [1, 3, 5, 7].map((n) => billed(0.5, { input: n })),
    [0, 2, 2, 4],
  );
  // × 3/2: 1 → 1.5 → 2, 3 → 4.5 → 4
  assert.deepEqual(
    [1, 3].map((n) => billed(1.5, { input: n })),
    [2, 4],
  );
  // once per record: 1 in + 1 out + 1 read = 3 pico × 1/2 = 1.5 → 2 (per class: 0.5 → 0 three times = 0)
  assert.equal(billed(0.5, { input: 1, output: 1, cacheRead: 1 }), 2);
  // not a half: × 0.3: 7 → 2.1 → 2, 9 → 2.7 → 3
  assert.deepEqual(
    [7, 9].map((n) => billed(0.3, { input: n })),
    [2, 3],
  );
});

test('exact for large counts: bigint arithmetic where a double would be off by one', () => {
  const tiny = new TablePricer(
    loadPriceTable(
      oneModel('m', 'input: 0.000001, output: 0.000001, cache_write_5m: 0.000001, cache_write_1h: 0.000001, cache_read: 0.000001'),
      't.yaml',
    ),
  );
  const b = buildBiller(billing({ list_price_factor: 7.3 }), tiny, CONFIG);
  // 1,200,000,000,000,022 × 73 / 10 = 8,760,000,000,000,160.6 → …161 (the double product rounds to …160)
  assert.equal(b.bill('m', usage({ input: 1_200_000_000_000_022 }), NOW).billedPico, 8_760_000_000_000_161);
  assert.notEqual(Math.round(1_200_000_000_000_022 * 7.3), 8_760_000_000_000_161);
  // gpt-5, 123,456,789 input tokens × 1.25e6 = 154,320,986,250,000 pico-USD; × 7.3 = 1,126,543,199,625,000
  const g = buildBiller(billing({ list_price_factor: 7.3 }), list, CONFIG).bill('gpt-5', usage({ input: 123_456_789 }), NOW);
  assert.deepEqual([g.costPicoUsd, g.billedPico], [154_320_986_250_000, 1_126_543_199_625_000]);
  // past 2^53 pico-CNY: unpriced with a problem, never a wrong number. 60M output × 25e6 = 1.5e15 × 7.3 > 2^53
  const big = buildBiller(billing({ list_price_factor: 7.3 }), list, CONFIG).bill('claude-opus-5', usage({ output: 60_000_000 }), NOW);
  assert.deepEqual([big.costPicoUsd, big.billedUnpriced, big.billedPico], [1_500_000_000_000_000, true, 0]);
  assert.equal(big.billedProblem, 'the billed amount exceeds 2^53 pico-CNY: usage looks corrupt');
});

test('unpriced, never 0: no factor and no own row, or a list price that is itself unknown', () => {
  const none = buildBiller(billing({ list_price_factor: null }), list, CONFIG).bill('claude-opus-5', OPUS, NOW);
  assert.deepEqual(
    [none.unpriced, none.costPicoUsd, none.billedUnpriced, none.billedPico, none.currency],
    [false, 17_500_000_000, true, 0, 'CNY'],
  );
  assert.equal(none.billedProblem, undefined);
  const unknown = buildBiller(billing({ list_price_factor: 7.3 }), list, CONFIG).bill('gpt-9', OPUS, NOW);
  assert.deepEqual([unknown.unpriced, unknown.billedUnpriced, unknown.billedPico], [true, true, 0]);
  const nullModel = buildBiller(billing({ list_price_factor: 7.3 }), list, CONFIG).bill(null, OPUS, NOW);
  assert.equal(nullModel.billedUnpriced, true);
});

test('web searches on own rows: the list fee × factor, or unpriced without a factor', () => {
  const models = {
    'claude-opus-5': {
      geo_us_applies: true,
      prices: [{ input: 30, output: 150, cache_write_5m: 37.5, cache_write_1h: 60, cache_read: 3 }],
    },
  };
  const u = usage({ input: 1_000, output: 500, webSearchRequests: 2 });
  // 1.05e11 + 2 × ($0.01 × 7.3 = ¥0.073 = 7.3e10)
  assert.equal(
    buildBiller(billing({ models, list_price_factor: 7.3 }), list, CONFIG).bill('claude-opus-5', u, NOW).billedPico,
    251_000_000_000,
  );
  const r = buildBiller(billing({ models, list_price_factor: null }), list, CONFIG).bill('claude-opus-5', u, NOW);
  assert.equal(r.billedUnpriced, true);
  assert.match(r.billedProblem ?? '', /^web searches have no price in CNY/);
  // a factor so large that one search's fee passes 2^53 pico (1e10 × 1e6): no price either
  const huge = buildBiller(billing({ models, list_price_factor: 1_000_000 }), list, CONFIG).bill('claude-opus-5', u, NOW);
  assert.equal(huge.billedUnpriced, true);
  assert.match(huge.billedProblem ?? '', /^web searches have no price in CNY/);
  // without searches the own row still prices: 1.05e11
  assert.equal(
    buildBiller(billing({ models, list_price_factor: null }), list, CONFIG).bill('claude-opus-5', OPUS, NOW).billedPico,
    105_000_000_000,
  );
});

test('corrupt usage: the list reports the problem, the bill is unpriced', () => {
  const models = {
    'claude-opus-5': {
      geo_us_applies: true,
      prices: [{ input: 30, output: 150, cache_write_5m: 37.5, cache_write_1h: 60, cache_read: 3 }],
    },
  };
  const r = buildBiller(billing({ models, list_price_factor: 7.3 }), list, CONFIG).bill('claude-opus-5', usage({ input: -1 }), NOW);
  assert.equal(r.problem, 'usage.input must be a non-negative integer, got -1');
  assert.deepEqual([r.billedUnpriced, r.billedPico], [true, 0]);
  assert.equal(r.billedProblem, 'usage.input must be a non-negative integer, got -1');
});

test('a bad relay pricing file names the file, the key path and the reason', () => {
  const bad = relayFile(
    'relay-bad.yaml',
    'models:\n  claude-x:\n    geo_us_applies: false\n    prices:\n      - { input: -1, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1 }\n',
  );
  rejects(
    () => buildBiller(billing({ file: bad }), list, CONFIG),
    `${join(dir, 'relay-bad.yaml')}: pricing error at models.claude-x.prices[0].input: must not be negative, got -1`,
  );
  const fine = relayFile(
    'relay-fine.yaml',
    'models:\n  m:\n    geo_us_applies: false\n    prices:\n      - { input: 1.1234567, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1 }\n',
  );
  rejects(
    () => buildBiller(billing({ file: fine }), list, CONFIG),
    `${join(dir, 'relay-fine.yaml')}: pricing error at models.m.prices[0].input: has more than 6 decimal places (1.1234567), so it is not an exact integer in pico-CNY`,
  );
  const alias = relayFile(
    'relay-alias.yaml',
    'models:\n  claude-sonnet-4-5:\n    geo_us_applies: false\n    prices:\n      - { input: 1, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1 }\n',
  );
  rejects(
    () => buildBiller(billing({ file: alias }), list, CONFIG),
    `${join(dir, 'relay-alias.yaml')}: pricing error at models.claude-sonnet-4-5: is an alias of claude-sonnet-4-5-20250929 in the list table; key the row by the model id claude-sonnet-4-5-20250929`,
  );
  rejects(
    () => buildBiller(billing({ file: 'missing.yaml' }), list, CONFIG),
    `${join(dir, 'missing.yaml')}: pricing error at (document): cannot read pricing file: ENOENT: no such file or directory, open '${join(dir, 'missing.yaml')}'`,
  );
});

test('inline rows and the factor: errors name the config file and where billing sits in it', () => {
  rejects(
    () =>
      buildBiller(
        billing({ models: { m: { geo_us_applies: false, prices: [{ input: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1 }] } } }),
        list,
        CONFIG,
        'upstreams[1].billing',
      ),
    `${CONFIG}: pricing error at upstreams[1].billing.pricing.models.m.prices[0].output: is required`,
  );
  rejects(
    () => buildBiller(billing({ list_price_factor: 7.1234567 }), list, CONFIG, 'upstream.billing'),
    `${CONFIG}: pricing error at upstream.billing.list_price_factor: has more than 6 decimal places (7.1234567), so it is not an exact integer in pico-units`,
  );
  rejects(
    () => buildBiller(billing({ list_price_factor: 0 }), list, null),
    'config: pricing error at billing.list_price_factor: must be greater than 0',
  );
});
