import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseModelId, resolveModel } from '../../../src/pricing/resolve.ts';
import { bundledPriceTable } from '../../../src/pricing/table.ts';

const table = bundledPriceTable();
const resolve = (m: string) => resolveModel(table, m);

test('canonical ids resolve to themselves (dateless 4.6+ and dated pre-4.6)', () => {
  for (const id of [
    'claude-opus-5',
    'claude-sonnet-5-5',
    'claude-haiku-5-5',
    'claude-opus-4-6',
    'claude-fable-5-1',
    'claude-haiku-4-5-20251001',
    'claude-sonnet-4-5-20250929',
    'claude-opus-4-20250514',
    'claude-3-haiku-20240307',
  ]) {
    assert.equal(resolve(id), id);
  }
});

test('aliases resolve to their dated id', () => {
  const cases: Array<[string, string]> = [
    ['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'],
    ['claude-opus-4-5', 'claude-opus-4-5-20251101'],
    ['claude-haiku-4-5', 'claude-haiku-4-5-20251001'],
    ['claude-opus-4-1', 'claude-opus-4-1-20250805'],
    ['claude-opus-4-0', 'claude-opus-4-20250514'],
    ['claude-4-opus-20250514', 'claude-opus-4-20250514'],
    ['claude-sonnet-4-0', 'claude-sonnet-4-20250514'],
    ['claude-4-sonnet-20250514', 'claude-sonnet-4-20250514'],
    ['claude-3-7-sonnet-latest', 'claude-3-7-sonnet-20250219'],
    ['claude-3-5-haiku-latest', 'claude-3-5-haiku-20241022'],
    ['claude-3-opus-latest', 'claude-3-opus-20240229'],
  ];
  for (const [alias, id] of cases) assert.equal(resolve(alias), id, alias);
});

test('Bedrock ids: region prefix, anthropic. prefix and -vN[:M] suffix are stripped', () => {
  const cases: Array<[string, string]> = [
    ['anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5-20250929'],
    ['us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5-20250929'],
    ['eu.anthropic.claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5-20251001'],
    ['apac.anthropic.claude-3-5-haiku-20241022-v1:0', 'claude-3-5-haiku-20241022'],
    ['global.anthropic.claude-opus-4-5-20251101-v1:0', 'claude-opus-4-5-20251101'],
    ['anthropic.claude-opus-4-6-v1', 'claude-opus-4-6'],
    ['anthropic.claude-sonnet-4-6', 'claude-sonnet-4-6'],
    ['global.anthropic.claude-opus-5', 'claude-opus-5'],
    ['anthropic.claude-3-haiku-20240307-v2:1', 'claude-3-haiku-20240307'],
    ['anthropic.claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'], // normalised, then alias
  ];
  for (const [raw, id] of cases) assert.equal(resolve(raw), id, raw);
});

test('Vertex ids: name@YYYYMMDD → name-YYYYMMDD', () => {
  assert.equal(resolve('claude-opus-4@20250514'), 'claude-opus-4-20250514');
  assert.equal(resolve('claude-sonnet-4-5@20250929'), 'claude-sonnet-4-5-20250929');
  assert.equal(resolve('claude-3-5-haiku@20241022'), 'claude-3-5-haiku-20241022');
  assert.equal(resolve('claude-opus-4-6'), 'claude-opus-4-6'); // newer Vertex ids equal the API id
});

test('substring traps: no prefix, suffix or family guessing', () => {
  for (const m of [
    'claude-opus-4', // must not match claude-opus-4-5 nor claude-opus-4-20250514
    'claude-sonnet-4-5-20250929-extra',
    'claude-sonnet-4-5-2025092',
    'claude-opus',
    'opus',
    'claude-opus-5-5[1m]', // Claude Code client-side name, not an API id
    'CLAUDE-OPUS-5', // ids are case-sensitive
    ' claude-opus-5',
    'claude-mythos-preview',
    'xx.anthropic.claude-opus-5', // unknown region prefix
    'us.claude-opus-5', // region prefix only counts before anthropic.
    'anthropic.claude-opus-4-v1:0',
    'claude-opus-4@2025051', // 7-digit date
    'claude-opus-4@20250514@20250514',
    'anthropic.',
    '',
  ]) {
    assert.equal(resolve(m), null, JSON.stringify(m));
  }
});

test('normaliseModelId applies each rule once, anchored', () => {
  assert.equal(normaliseModelId('us.anthropic.claude-x-v1:0'), 'claude-x');
  assert.equal(normaliseModelId('anthropic.anthropic.claude-x'), 'anthropic.claude-x');
  assert.equal(normaliseModelId('claude-x-v1-v1'), 'claude-x-v1');
  assert.equal(normaliseModelId('claude-x@20250101'), 'claude-x-20250101');
  assert.equal(normaliseModelId('claude-opus-5'), 'claude-opus-5');
  assert.equal(normaliseModelId('claude-x-v1.0'), 'claude-x-v1.0');
});
