import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TablePricer, computeCost } from '../../../src/pricing/cost.ts';
import { bundledPriceTable } from '../../../src/pricing/table.ts';
import { NOW, at, usage } from './fixtures.ts';

// Hand arithmetic: $X/MTok = X·1e6 pico-USD per token. 1 USD = 1e12 pico.
const table = bundledPriceTable();
const cost = (model: string, u: Parameters<typeof usage>[0], ctx = NOW) => computeCost(table, model, usage(u), ctx);

test('Opus 5: 1,000 in / 500 out = $0.0175', () => {
  // 1000 × 5e6 + 500 × 25e6 = 5e9 + 12.5e9
  assert.deepEqual(cost('claude-opus-5', { input: 1000, output: 500 }), {
    costPicoUsd: 17_500_000_000,
    unpriced: false,
    resolvedModel: 'claude-opus-5',
    tier: 'base',
  });
});

test('Sonnet 4.6 with cache: 5m/1h split priced separately', () => {
  // in 10k×3e6=3e10, out 2k×15e6=3e10, read 50k×0.3e6=1.5e10, 5m 15k×3.75e6=5.625e10, 1h 5k×6e6=3e10
  const r = cost('claude-sonnet-4-6', {
    input: 10_000,
    output: 2_000,
    cacheRead: 50_000,
    cacheCreation: 20_000,
    cacheCreation5m: 15_000,
    cacheCreation1h: 5_000,
  });
  assert.equal(r.costPicoUsd, 161_250_000_000);
});

test('cache writes without a TTL split are all billed at the 5m rate', () => {
  // 20k × 3.75e6 = 7.5e10 replaces 5.625e10 + 3e10
  const r = cost('claude-sonnet-4-6', { input: 10_000, output: 2_000, cacheRead: 50_000, cacheCreation: 20_000 });
  assert.equal(r.costPicoUsd, 150_000_000_000);
});

test('a partial split bills the unsplit remainder at the 5m rate', () => {
  const base = { input: 10_000, output: 2_000, cacheRead: 50_000, cacheCreation: 20_000 };
  // only 1h reported: 5k at 1h, remaining 15k at 5m — same as the full split
  assert.equal(cost('claude-sonnet-4-6', { ...base, cacheCreation1h: 5_000 }).costPicoUsd, 161_250_000_000);
  // split sums to less than the total: 10k 5m + 5k 1h + 5k remainder at 5m
  const r = cost('claude-sonnet-4-6', { ...base, cacheCreation5m: 10_000, cacheCreation1h: 5_000 });
  assert.equal(r.costPicoUsd, 161_250_000_000);
});

test('a split larger than the reported total bills the split (never under-bills)', () => {
  // 1h 1,000 × 6e6 = 6e9 although cacheCreation says 0
  const r = cost('claude-sonnet-4-6', { cacheCreation: 0, cacheCreation5m: 0, cacheCreation1h: 1_000 });
  assert.equal(r.costPicoUsd, 6_000_000_000);
});

test('cache-read rates differ by model (1M cached tokens)', () => {
  const read = { cacheRead: 1_000_000 };
  assert.equal(cost('claude-fable-5-1', read).costPicoUsd, 250_000_000_000); // $0.25 = 0.025x
  assert.equal(cost('claude-mythos-5-1', read).costPicoUsd, 250_000_000_000);
  assert.equal(cost('claude-opus-5-5', read).costPicoUsd, 200_000_000_000); // $0.20 = 0.05x
  assert.equal(cost('claude-fable-5', read).costPicoUsd, 1_000_000_000_000); // $1.00 = 0.1x
  assert.equal(cost('claude-opus-5', read).costPicoUsd, 500_000_000_000);
});

test('Sonnet 5.5 cache read is cut from $0.20 to $0.10 at 2026-10-07T00:00Z', () => {
  const read = { cacheRead: 1_000_000 };
  const before = cost('claude-sonnet-5-5', read, at('2026-10-06T23:59:59.999Z'));
  const on = cost('claude-sonnet-5-5', read, at('2026-10-07T00:00:00.000Z'));
  assert.equal(before.costPicoUsd, 200_000_000_000);
  assert.equal(on.costPicoUsd, 100_000_000_000);
  assert.equal(cost('claude-sonnet-5-5', read, at('2026-09-28')).costPicoUsd, 200_000_000_000);
});

test('Haiku 5.5: 99,999 and 100,000 prompt tokens are base; 100,001 reprices the whole request', () => {
  // prompt = input 60,000 + cache writes 20,000 + cache reads (19,999 | 20,000 | 20,001)
  const req = (cacheRead: number) => cost('claude-haiku-5-5', { input: 60_000, cacheCreation: 20_000, cacheRead, output: 1_000 });
  // 60k×0.1e6=6e9, 20k×0.125e6=2.5e9, 19,999×10,000=199,990,000, 1k×0.5e6=5e8
  assert.deepEqual([req(19_999).costPicoUsd, req(19_999).tier], [9_199_990_000, 'base']);
  assert.deepEqual([req(20_000).costPicoUsd, req(20_000).tier], [9_200_000_000, 'base']);
  // long: 60k×0.5e6=3e10, 20k×0.625e6=1.25e10, 20,001×50,000=1,000,050,000, output too: 1k×2.5e6=2.5e9
  assert.deepEqual([req(20_001).costPicoUsd, req(20_001).tier], [46_000_050_000, 'long_prompt']);
});

test('Sonnet 4.5 200K tier applies only above 200,000 prompt tokens AND with the context-1m beta', () => {
  const u = (cacheRead: number) => ({ input: 150_000, cacheRead, output: 10_000 });
  const beta = ['some-other-beta', 'context-1m-2025-08-07'];
  // base: 150k×3e6=4.5e11, 50,001×0.3e6=15,000,300,000, 10k×15e6=1.5e11
  assert.equal(cost('claude-sonnet-4-5-20250929', u(50_001)).costPicoUsd, 615_000_300_000);
  assert.equal(cost('claude-sonnet-4-5-20250929', u(50_001)).tier, 'base');
  // beta: 150k×6e6=9e11, 50,001×0.6e6=30,000,600,000, output repriced 10k×22.5e6=2.25e11
  const long = cost('claude-sonnet-4-5', u(50_001), at('2026-11-27', beta));
  assert.deepEqual([long.costPicoUsd, long.tier, long.resolvedModel], [1_155_000_600_000, 'long_prompt', 'claude-sonnet-4-5-20250929']);
  // exactly 200,000 with the beta stays base
  assert.equal(cost('claude-sonnet-4-5', u(50_000), at('2026-11-27', beta)).costPicoUsd, 615_000_000_000);
  // Sonnet 4 has the same rule; Sonnet 4.6 has none (1M context at standard price)
  assert.equal(cost('claude-sonnet-4-20250514', u(50_001), at('2026-11-27', beta)).tier, 'long_prompt');
  assert.equal(cost('claude-sonnet-4-6', u(50_001), at('2026-11-27', beta)).costPicoUsd, 615_000_300_000);
});

test('batch halves every token class', () => {
  // Opus 5.5: (1k×4e6 + 1k×20e6) / 2 = $2/$10 per MTok
  assert.equal(cost('claude-opus-5-5', { input: 1_000, output: 1_000, serviceTier: 'batch' }).costPicoUsd, 12_000_000_000);
  assert.equal(cost('claude-opus-5-5', { input: 1_000, output: 1_000, serviceTier: 'standard' }).costPicoUsd, 24_000_000_000);
  assert.equal(cost('claude-opus-5-5', { input: 1_000, output: 1_000, serviceTier: 'priority' }).costPicoUsd, 24_000_000_000);
});

test('inference_geo "us" is ×1.1 on Claude 4.6+ only', () => {
  const u = { input: 1_000, output: 1_000, cacheRead: 1_000, inferenceGeo: 'us' };
  // Opus 4.6: (5e9 + 25e9 + 0.5e9) × 1.1 = 33.55e9
  assert.equal(cost('claude-opus-4-6', u).costPicoUsd, 33_550_000_000);
  assert.equal(cost('claude-sonnet-4-6', u).costPicoUsd, 20_130_000_000); // (3+15+0.3)e9 × 1.1
  assert.equal(cost('claude-opus-4-5', u).costPicoUsd, 30_500_000_000); // 4.5: no surcharge
  assert.equal(cost('claude-haiku-4-5', u).costPicoUsd, 6_100_000_000);
  assert.equal(cost('claude-opus-4-6', { ...u, inferenceGeo: 'global' }).costPicoUsd, 30_500_000_000);
});

test('batch × geo stack exactly (×11/20) where floats would not', () => {
  // Haiku 5.5, one token of each class: 100,000 + 500,000 + 125,000 + 10,000 = 735,000
  const r = cost('claude-haiku-5-5', {
    input: 1,
    output: 1,
    cacheCreation: 1,
    cacheRead: 1,
    serviceTier: 'batch',
    inferenceGeo: 'us',
  });
  assert.equal(r.costPicoUsd, 404_250); // 735,000 × 11 / 20
  assert.notEqual(735_000 * 0.5 * 1.1, 404_250); // the float product is 404250.00000000006
});

test('fast mode uses the fast card; data residency stacks on top', () => {
  // Opus 4.6 fast $30/$150: 1k×30e6 + 1k×150e6
  const f = cost('claude-opus-4-6', { input: 1_000, output: 1_000, speed: 'fast' });
  assert.deepEqual([f.costPicoUsd, f.tier], [180_000_000_000, 'fast']);
  assert.equal(cost('claude-opus-4-6', { input: 1_000, output: 1_000, speed: 'fast', inferenceGeo: 'us' }).costPicoUsd, 198_000_000_000);
  assert.equal(cost('claude-opus-5-5', { input: 1_000, output: 1_000, speed: 'fast' }).costPicoUsd, 48_000_000_000); // $8/$40
  assert.equal(cost('claude-opus-4-8', { input: 1_000, output: 1_000, speed: 'fast' }).costPicoUsd, 60_000_000_000); // $10/$50
  assert.equal(cost('claude-opus-5', { cacheRead: 10_000, speed: 'fast' }).costPicoUsd, 10_000_000_000); // read $1.00
  assert.equal(cost('claude-opus-4-6', { input: 1_000, speed: 'standard' }).tier, 'base');
});

test('fast on a model without a fast row: base rates as a lower bound, flagged fast_unpriced', () => {
  const r = cost('claude-opus-4-7', { input: 1_000, output: 1_000, speed: 'fast' });
  assert.deepEqual(r, { costPicoUsd: 30_000_000_000, unpriced: false, resolvedModel: 'claude-opus-4-7', tier: 'fast_unpriced' });
});

test('web search is $10 per 1,000 and is not scaled by batch or geo', () => {
  assert.equal(cost('claude-sonnet-4-6', { webSearchRequests: 5 }).costPicoUsd, 50_000_000_000); // 5 × $0.01
  const r = cost('claude-opus-4-6', {
    input: 1_000,
    output: 1_000,
    webSearchRequests: 3,
    serviceTier: 'batch',
    inferenceGeo: 'us',
  });
  assert.equal(r.costPicoUsd, 16_500_000_000 + 30_000_000_000); // 3e10 × 11/20 + 3 × 1e10
  assert.equal(cost('claude-sonnet-4-6', { webFetchRequests: 7 }).costPicoUsd, 0); // fetch is free
});

test('unknown, null and unpriced models are unpriced, never $0 billed', () => {
  const u = { input: 1_000, output: 1_000 };
  for (const m of ['claude-mythos-preview', 'claude-mythos-5-2', 'gpt-5.6-sol', 'claude-opus-4']) {
    assert.deepEqual(cost(m, u), { costPicoUsd: 0, unpriced: true, resolvedModel: null, tier: null }, m);
  }
  assert.equal(computeCost(table, null, usage(u), NOW).unpriced, true);
});

test('a known model with no row in force at ctx.at is unpriced but resolved', () => {
  // Keep only Sonnet 5.5's second row (from 2026-10-07): nothing covers 2026-10-01.
  const pricing = table.models.get('claude-sonnet-5-5')!;
  const bounded = { ...table, models: new Map([[pricing.id, { ...pricing, rows: pricing.rows.slice(1) }]]) };
  const r = computeCost(bounded, 'claude-sonnet-5-5', usage({ input: 1 }), at('2026-10-01'));
  assert.deepEqual(r, { costPicoUsd: 0, unpriced: true, resolvedModel: 'claude-sonnet-5-5', tier: null });
});

test('corrupt usage: computeCost throws, TablePricer.price reports unpriced with a problem', () => {
  assert.throws(() => cost('claude-opus-5', { input: -1 }), {
    name: 'RangeError',
    message: 'usage.input must be a non-negative integer, got -1',
  });
  assert.throws(
    () => cost('claude-opus-5', { cacheCreation5m: 1.5 }),
    /usage\.cacheCreation5m must be null or a non-negative integer, got 1\.5/,
  );
  const pricer = new TablePricer(table);
  assert.deepEqual(pricer.price('claude-opus-5', usage({ output: 2.5 }), NOW), {
    costPicoUsd: 0,
    unpriced: true,
    resolvedModel: 'claude-opus-5',
    tier: null,
    problem: 'usage.output must be a non-negative integer, got 2.5',
  });
});

test('a cost beyond 2^53 pico-USD (~$9,007) is rejected, not rounded', () => {
  // 1e9 output tokens at $150/MTok = $150,000
  assert.throws(() => cost('claude-opus-4-6', { output: 1_000_000_000, speed: 'fast' }), /exceeds 2\^53 pico-USD/);
  // the largest plausible request (2M tokens, fast Opus 4.6 output, geo) stays well inside
  assert.ok(Number.isSafeInteger(cost('claude-opus-4-6', { output: 2_000_000, speed: 'fast', inferenceGeo: 'us' }).costPicoUsd));
});

test('TablePricer exposes version and resolve', () => {
  const pricer = new TablePricer(table);
  assert.equal(pricer.version, '2026-12-07');
  assert.equal(pricer.resolve('claude-haiku-4-5'), 'claude-haiku-4-5-20251001');
  assert.equal(pricer.price('us.anthropic.claude-haiku-4-5-20251001-v1:0', usage({ input: 1_000 }), NOW).costPicoUsd, 1_000_000_000);
});

test('property: the cost is the exact integer sum (bigint reference), also near and past 2^53 pico', async () => {
  const fc = (await import('fast-check')).default;
  const { selectRow } = await import('../../../src/pricing/cost.ts');
  const row = selectRow(table.models.get('claude-opus-5')!, NOW.at)!;
  const r = row.base;
  // Counts up to 2^40 make some sums pass 2^53, where the plain-number path must hand over to bigint.
  const count = fc.oneof(fc.nat({ max: 2_000_000 }), fc.integer({ min: 0, max: 2 ** 40 }));
  fc.assert(
    fc.property(
      count,
      count,
      count,
      count,
      fc.option(count, { nil: null }),
      fc.option(count, { nil: null }),
      fc.nat({ max: 50 }),
      (input, output, cacheRead, cacheCreation, c5m, c1h, searches) => {
        const u = usage({
          input,
          output,
          cacheRead,
          cacheCreation,
          cacheCreation5m: c5m,
          cacheCreation1h: c1h,
          webSearchRequests: searches,
        });
        const split = BigInt(c5m ?? 0) + BigInt(c1h ?? 0);
        const cc = BigInt(cacheCreation) > split ? BigInt(cacheCreation) : split;
        const B = BigInt;
        const want =
          B(input) * B(r.input) +
          B(c5m ?? 0) * B(r.cacheWrite5m) +
          B(c1h ?? 0) * B(r.cacheWrite1h) +
          (cc - split) * B(r.cacheWrite5m) +
          B(cacheRead) * B(r.cacheRead) +
          B(output) * B(r.output) +
          B(searches) * B(table.webSearchPicoPerRequest);
        const prompt = B(input) + cc + B(cacheRead);
        if (row.longPrompt !== null && prompt > B(row.longPrompt.thresholdTokens)) return; // another rate card: covered above
        if (want > B(Number.MAX_SAFE_INTEGER)) {
          assert.throws(() => computeCost(table, 'claude-opus-5', u, NOW), RangeError);
          return;
        }
        const got = computeCost(table, 'claude-opus-5', u, NOW);
        assert.equal(got.costPicoUsd, Number(want));
        assert.ok(Number.isSafeInteger(got.costPicoUsd));
      },
    ),
    { numRuns: 3000 },
  );
});
