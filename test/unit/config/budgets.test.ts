import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../../src/config/load.ts';
import { assertConfigError } from './helpers.ts';
import { BUDGET_DEFAULTS, DEFAULTS } from '../../../src/config/defaults.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url));
const SHIPPED = fileURLToPath(new URL('../../../proxy.config.yaml', import.meta.url));
const INLINE = '/etc/cm/inline.yaml';
const loadText = (text: string, env: Record<string, string> = {}) => loadConfig({ file: INLINE, env, readFile: () => text });

// One fixture per budget failure mode; each asserts the exact operator-facing message.
const failures: Array<[file: string, keyPath: string, reason: string]> = [
  ['budget-missing-name.yaml', 'budgets[0].name', 'missing required key'],
  ['budget-no-limit.yaml', 'budgets[0]', 'needs limit_usd, limit (with currency) or limit_tokens'],
  [
    'budget-bad-window.yaml',
    'budgets[0].window',
    "invalid window 'fortnight': expected hour, day, week or month (calendar), or a rolling length like 90m, 24h or 7d",
  ],
  ['budget-bad-timezone.yaml', 'budgets[0].timezone', "unknown time zone 'Mars/Base'"],
  ['budget-unknown-key.yaml', 'budgets[0].limt_tokens', "unknown key 'limt_tokens' (did you mean 'limit_tokens'?)"],
  ['budget-unknown-match-key.yaml', 'budgets[0].match.models', "unknown key 'models' (did you mean 'model'?)"],
  ['budget-alert-order.yaml', 'budgets[0].alert_at[1]', 'must be greater than the previous threshold 0.8 (ascending, no repeats), got 0.5'],
  ['budget-duplicate-names.yaml', 'budgets[2].name', "duplicate budget name 'team-a' (also budgets[0])"],
  [
    'budget-bad-scope.yaml',
    'budgets[0].scope',
    "must be one of 'global', 'per_key', 'per_tag', 'per_model', 'per_upstream', got 'per_team' (did you mean 'per_tag'?)",
  ],
  ['budget-bad-name.yaml', 'budgets[0].name', "must be 1 to 64 of the characters A-Z a-z 0-9 . _ -, got 'team a'"],
  [
    'budget-limit-precision.yaml',
    'budgets[0].limit_usd',
    'has more than 6 decimal places (12.3456789), so it is not an exact integer in pico-USD',
  ],
];

for (const [name, keyPath, reason] of failures) {
  test(`fixture ${name}: ${keyPath}: ${reason}`, () => {
    const file = fixture(name);
    const err = assertConfigError(() => loadConfig({ file, env: {} }), `${file}: config error at ${keyPath}: ${reason}`);
    assert.equal(err.file, file);
    assert.equal(err.keyPath, keyPath);
    assert.equal(err.reason, reason);
  });
}

test('budgets: per-budget defaults fill in, single match values become lists', () => {
  const file = fixture('budgets.yaml');
  const c = loadConfig({ file, env: {} });
  assert.deepEqual(c.budgets, [
    { ...BUDGET_DEFAULTS, name: 'org-daily', timezone: 'Europe/Berlin', limit_usd: 250.5, alert_at: [0.5, 0.8, 1.0] },
    {
      ...BUDGET_DEFAULTS,
      name: 'opus.per-key_24h',
      scope: 'per_key',
      match: { key: [], tag: ['batch', 'nightly'], model: ['claude-opus-4-1'], path: [], upstream: [] },
      window: '24h',
      limit_tokens: 2_000_000,
      action: 'shadow',
      on_store_error: 'deny',
    },
  ]);
  assert.deepEqual(c.alerts, { webhook_url: 'https://hooks.example.com/budget', timeout_ms: 5000, max_attempts: 3 });
  assert.deepEqual(c.admin, { token: null, protect_metrics: false }); // ${CM_TEST_ADMIN_TOKEN:-} unset -> '' -> null
  assert.equal(loadConfig({ file, env: { CM_TEST_ADMIN_TOKEN: 'tok' } }).admin.token, 'tok');
});

test('BUDGET_DEFAULTS are the documented ones', () => {
  assert.deepEqual(BUDGET_DEFAULTS, {
    scope: 'global',
    match: { key: [], tag: [], model: [], path: [], upstream: [] },
    window: 'day',
    timezone: 'UTC',
    limit_usd: null,
    limit: null,
    currency: null,
    limit_tokens: null,
    action: 'reject',
    alert_at: [],
    on_store_error: 'allow',
    throttle: { mode: 'reject', max_delay_ms: 10_000, burst_s: 300 },
    admission: { max_wait_ms: 5_000, max_queue: 256 },
    spike: { multiple: 5, window_min: 5, action: 'alert' },
  });
  assert.deepEqual(DEFAULTS.forecast, { refit_interval_ms: 300_000, update_interval_ms: 30_000, history_days: 28 });
  assert.deepEqual(DEFAULTS.budgets, []);
  assert.deepEqual(DEFAULTS.alerts, { webhook_url: null, timeout_ms: 5000, max_attempts: 5 });
  assert.deepEqual(DEFAULTS.admin, { token: null, protect_metrics: false });
});

test('budgets are deep-frozen, and never share arrays with the defaults', () => {
  const c = loadConfig({ file: fixture('budgets.yaml'), env: {} });
  const [first] = c.budgets;
  assert.ok(first !== undefined);
  assert.ok(Object.isFrozen(c.budgets));
  assert.ok(Object.isFrozen(first.match.key));
  assert.ok(Object.isFrozen(first.alert_at));
  assert.notEqual(first.match.key, BUDGET_DEFAULTS.match.key);
  assert.throws(() => (first.alert_at as number[]).push(0.9), TypeError);
});

test('budget edge cases, inline', () => {
  const at = (keyPath: string, reason: string) => `${INLINE}: config error at ${keyPath}: ${reason}`;
  const one = (body: string) => `budgets:\n  - name: b\n${body}`;
  const cases: Array<[string, string]> = [
    [one('    limit_usd: 0\n'), at('budgets[0].limit_usd', 'must be > 0, got 0')],
    [one('    limit_usd: 2000000000\n'), at('budgets[0].limit_usd', 'must be at most 1000000000, got 2000000000')],
    [
      one('    limit_usd: 0.0000001\n'),
      at('budgets[0].limit_usd', 'has more than 6 decimal places (1e-7), so it is not an exact integer in pico-USD'),
    ],
    [one('    limit_tokens: 0\n'), at('budgets[0].limit_tokens', 'must be >= 1, got 0')],
    [one('    limit_tokens: 1.5\n'), at('budgets[0].limit_tokens', 'expected an integer, got number 1.5')],
    [
      one('    limit_usd: 1\n    alert_at: [0.5, 0.5]\n'),
      at('budgets[0].alert_at[1]', 'must be greater than the previous threshold 0.5 (ascending, no repeats), got 0.5'),
    ],
    [one('    limit_usd: 1\n    alert_at: [0]\n'), at('budgets[0].alert_at[0]', 'must be > 0 and <= 1.5, got 0')],
    [one('    limit_usd: 1\n    alert_at: [1.6]\n'), at('budgets[0].alert_at[0]', 'must be > 0 and <= 1.5, got 1.6')],
    [one('    limit_usd: 1\n    window: 32d\n'), at('budgets[0].window', "rolling window '32d' is longer than the maximum 31d")],
    [one('    limit_usd: 1\n    window: 0m\n'), at('budgets[0].window', "rolling window '0m' is shorter than the minimum 1m")],
    [one('    limit_usd: 1\n    window: ""\n'), at('budgets[0].window', 'must not be empty')],
    [
      one('    limit_usd: 1\n    admission:\n      max_wait_ms: 60001\n'),
      at('budgets[0].admission.max_wait_ms', 'must be between 0 and 60000, got 60001'),
    ],
    [
      one('    limit_usd: 1\n    admission:\n      max_queue: -1\n'),
      at('budgets[0].admission.max_queue', 'must be between 0 and 100000, got -1'),
    ],
    [
      one('    limit_usd: 1\n    admission:\n      max_wait: 5\n'),
      at('budgets[0].admission.max_wait', "unknown key 'max_wait' (did you mean 'max_wait_ms'?)"),
    ],
    [one('    limit_usd: 1\n    action: deny\n'), at('budgets[0].action', "must be one of 'reject', 'throttle', 'shadow', got 'deny'")],
    [
      one('    limit_usd: 1\n    match:\n      key: {a: 1}\n'),
      at('budgets[0].match.key', 'expected a list or a single value, got a mapping'),
    ],
    [one('    limit_usd: 1\n    match:\n      model: 5\n'), at('budgets[0].match.model', 'expected a string, got number 5')],
    [one('    limit_usd: 1\n    match:\n      tag: [a, ""]\n'), at('budgets[0].match.tag[1]', 'must not be empty')],
    [one('    limit_usd: 1\n    match: [a]\n'), at('budgets[0].match', 'expected a mapping, got a list')],
    [
      `budgets:\n  - name: ${'x'.repeat(65)}\n    limit_usd: 1\n`,
      at('budgets[0].name', `must be 1 to 64 of the characters A-Z a-z 0-9 . _ -, got '${'x'.repeat(57)}...'`),
    ],
    ['budgets:\n  name: b\n', at('budgets', 'expected a list, got a mapping')],
    [
      'alerts:\n  webhook_url: ftp://hooks.example\n',
      at('alerts.webhook_url', "expected a URL with scheme https: or http:, got 'ftp://hooks.example'"),
    ],
    ['alerts:\n  max_attempts: 0\n', at('alerts.max_attempts', 'must be between 1 and 100, got 0')],
    ['alerts:\n  timeout_ms: 0\n', at('alerts.timeout_ms', 'must be between 1 and 2147483647, got 0')],
    ['admin:\n  token: 5\n', at('admin.token', 'expected a string, got number 5')],
    ['admin:\n  tokn: x\n', at('admin.tokn', "unknown key 'tokn' (did you mean 'token'?)")],
  ];
  for (const [text, message] of cases) assertConfigError(() => loadText(text), message);
});

test('budget values accepted at the edges', () => {
  const c = loadText(
    `budgets:\n  - {name: a, limit_usd: 0.000001, window: 1m, alert_at: [0.000001, 1.5]}\n` +
      `  - {name: ${'Z'.repeat(64)}, limit_usd: 1000000000, window: 31d}\n` +
      '  - {name: c, limit_tokens: 1, window: month, timezone: Asia/Kathmandu, match: {key: k1, path: /v1/messages}}\n',
  );
  assert.deepEqual(
    c.budgets.map((b) => [b.window, b.limit_usd, b.limit_tokens]),
    [
      ['1m', 0.000001, null],
      ['31d', 1_000_000_000, null],
      ['month', null, 1],
    ],
  );
  assert.deepEqual(c.budgets[2]?.match, { key: ['k1'], tag: [], model: [], path: ['/v1/messages'], upstream: [] });
  // Empty or null sections and lists mean defaults.
  assert.deepEqual(loadText('budgets:\nalerts:\nadmin:\n').budgets, []);
  assert.deepEqual(loadText('budgets: []\nadmin:\n  token: ""\n').admin, { token: null, protect_metrics: false });
  assert.deepEqual(loadText('budgets:\n  - {name: a, limit_usd: 1, match: {tag: null}}\n').budgets[0]?.match.tag, []);
});

test('match values from ${VAR} are one string, never split', () => {
  const c = loadText('budgets:\n  - name: a\n    limit_usd: 1\n    match:\n      key: ${KEYS}\n', { KEYS: 'k1, k2' });
  assert.deepEqual(c.budgets[0]?.match.key, ['k1, k2']);
});

test('the commented budget example in proxy.config.yaml is valid once uncommented', () => {
  const lines = readFileSync(SHIPPED, 'utf8').split('\n');
  const at = lines.indexOf('budgets: []');
  assert.ok(at >= 0, 'the shipped config keeps `budgets: []` active');
  const example: string[] = ['budgets:'];
  for (const line of lines.slice(at + 1)) {
    if (!line.startsWith('#')) break;
    example.push(line.slice(1));
  }
  const c = loadText(example.join('\n'));
  assert.deepEqual(
    c.budgets.map((b) => b.name),
    ['org-daily', 'opus-per-key'],
  );
  assert.deepEqual(c.budgets[1]?.match.model, ['claude-opus-4-1']);
});
