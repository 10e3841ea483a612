/** upstream.client_key_ids, the rule that a cap per key needs keys somebody checks, and canonical match.path filters. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load.ts';
import { hashKey } from '../../../src/http/identify.ts';
import { assertConfigError } from './helpers.ts';

const FILE = '/etc/cm/proxy.config.yaml';
const load = (text: string) => loadConfig({ file: FILE, env: {}, readFile: () => text });
const ID = hashKey('sk-ant-api03-client');

const budget = (extra: string) => `budgets:\n  - name: team\n    window: day\n    limit_usd: 1\n${extra}`;
const WHY = 'needs verified client keys: upstream.api_key is set and upstream.client_key_ids is empty, so any client can send any key';

test('client_key_ids: key ids as key-id prints them, a list or one; empty by default', () => {
  assert.deepEqual(load('').upstream.client_key_ids, []);
  assert.deepEqual(load(`upstream:\n  client_key_ids: [${ID}]\n`).upstream.client_key_ids, [ID]);
  assert.deepEqual(load(`upstream:\n  client_key_ids: ${ID}\n`).upstream.client_key_ids, [ID]);
});

test('a raw key in client_key_ids is refused without echoing it', () => {
  const err = assertConfigError(
    () => load('upstream:\n  client_key_ids: [sk-ant-api03-oops]\n'),
    `${FILE}: config error at upstream.client_key_ids[0]: expected a key id (16 lower-case hex characters, as printed by \`claude-meter key-id\`)`,
  );
  assert.ok(!err.message.includes('oops'));
  assertConfigError(
    () => load(`upstream:\n  client_key_ids: [${ID.toUpperCase()}]\n`),
    `${FILE}: config error at upstream.client_key_ids[0]: expected a key id (16 lower-case hex characters, as printed by \`claude-meter key-id\`)`,
  );
});

test('a per_key budget with upstream.api_key and no client_key_ids is a config error naming the budget', () => {
  assertConfigError(
    () => load(`upstream:\n  api_key: sk-upstream\n${budget('    scope: per_key\n')}`),
    `${FILE}: config error at budgets[0].scope: per_key budget 'team' ${WHY}`,
  );
  assertConfigError(
    () => load(`upstream:\n  api_key: sk-upstream\n${budget(`    match:\n      key: ${ID}\n`)}`),
    `${FILE}: config error at budgets[0].match.key: budget 'team' matching on key ${WHY}`,
  );
});

test('the same budgets are valid with a list, without an injected key, or when not per key', () => {
  assert.equal(load(`upstream:\n  api_key: sk-upstream\n  client_key_ids: [${ID}]\n${budget('    scope: per_key\n')}`).budgets.length, 1);
  assert.equal(load(budget('    scope: per_key\n')).budgets.length, 1);
  assert.equal(load(`upstream:\n  api_key: sk-upstream\n${budget('    scope: per_tag\n')}`).budgets.length, 1);
});

test('budget match.path: canonical paths only, since requests are matched by theirs', () => {
  assert.deepEqual(load(budget('    match:\n      path: /v1/messages\n')).budgets[0]?.match.path, ['/v1/messages']);
  assertConfigError(
    () => load(budget('    match:\n      path: /v1/%6dessages?beta=true\n')),
    `${FILE}: config error at budgets[0].match.path: must be a canonical path without a query, as requests are matched, got '/v1/%6dessages?beta=true' (did you mean '/v1/messages'?)`,
  );
  assertConfigError(
    () => load(budget('    match:\n      path: [/v1/messages, v1/complete]\n')),
    `${FILE}: config error at budgets[0].match.path[1]: must be a canonical path without a query, as requests are matched, got 'v1/complete'`,
  );
});
