import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { loadConfig } from '../../../src/config/load.ts';
import { assertConfigError } from './helpers.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url));
const SHIPPED = fileURLToPath(new URL('../../../proxy.config.yaml', import.meta.url));

/** Loads `text` as if it were the file `name` (for cases that need no fixture on disk). */
function loadText(text: string, env: Record<string, string> = {}, name = '/etc/cm/inline.yaml') {
  return loadConfig({ file: name, env, readFile: () => text });
}

// One fixture per failure mode; each asserts the exact operator-facing message.
const failures: Array<[file: string, keyPath: string, reason: string]> = [
  ['malformed.yaml', '(yaml)', 'All mapping items must start at the same column at line 4, column 1'],
  ['unknown-top-level-key.yaml', 'uptream', "unknown key 'uptream' (did you mean 'upstream'?)"],
  ['unknown-nested-key.yaml', 'store.redis.uri', "unknown key 'uri' (did you mean 'url'?)"],
  ['wrong-type.yaml', 'metrics.key_label', "expected a boolean (true or false), got 'yes'"],
  ['port-out-of-range.yaml', 'listen.port', 'must be between 0 and 65535, got 70000'],
  ['bad-url.yaml', 'upstream.url', "expected a URL with scheme https: or http:, got 'api.anthropic.com'"],
  ['negative-number.yaml', 'store.bucket_ttl_days', 'must be >= 1, got -3'],
  [
    'unset-env-var.yaml',
    'upstream.api_key',
    'environment variable CM_TEST_UNSET_API_KEY is not set (use ${CM_TEST_UNSET_API_KEY:-default} to make it optional)',
  ],
  ['duplicate-key.yaml', '(yaml)', "duplicate key 'port' at line 4, column 3"],
  ['not-a-mapping.yaml', '(root)', 'expected a mapping, got a list'],
  ['bad-enum.yaml', 'log.level', "must be one of 'debug', 'info', 'warn', 'error', 'silent', got 'warning' (did you mean 'warn'?)"],
  ['not-an-integer.yaml', 'upstream.connections', 'expected an integer, got number 12.5'],
  ['section-not-a-mapping.yaml', 'upstream', "expected a mapping, got 'https://api.anthropic.com'"],
  ['unknown-tag.yaml', '(yaml)', 'Unresolved tag: !secret at line 3, column 12'],
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

test('a named file that does not exist is an error, not a silent fallback to defaults', () => {
  const file = fixture('does-not-exist.yaml');
  assertConfigError(() => loadConfig({ file, env: {} }), `${file}: config error at (file): file not found`);
});

test('CLAUDE_METER_CONFIG names the file when opts.file is null, and must exist too', () => {
  const c = loadConfig({ file: null, env: { CLAUDE_METER_CONFIG: fixture('partial.yaml') } });
  assert.equal(c.source, fixture('partial.yaml'));
  assert.equal(c.listen.port, 9999);
  const missing = fixture('nope.yaml');
  assertConfigError(
    () => loadConfig({ file: null, env: { CLAUDE_METER_CONFIG: missing } }),
    `${missing}: config error at (file): file not found`,
  );
});

test('opts.file wins over CLAUDE_METER_CONFIG; a relative path is resolved against the cwd', () => {
  const rel = 'test/fixtures/config/partial.yaml';
  const c = loadConfig({ file: rel, env: { CLAUDE_METER_CONFIG: fixture('nope.yaml') } });
  assert.equal(c.source, resolve(rel));
});

test('no file at all gives exactly the defaults, with source null', () => {
  assert.deepEqual(loadConfig({ file: null, env: {} }), { source: null, ...DEFAULTS });
});

test('empty files, comment-only files and empty sections mean all defaults', () => {
  for (const name of ['empty.yaml', 'comments-only.yaml', 'empty-sections.yaml']) {
    assert.deepEqual(loadConfig({ file: fixture(name), env: {} }), { source: fixture(name), ...DEFAULTS }, name);
  }
});

test('a partial config (one key) fills every other key from the defaults', () => {
  const c = loadConfig({ file: fixture('partial.yaml'), env: {} });
  assert.deepEqual(c, {
    ...DEFAULTS,
    source: fixture('partial.yaml'),
    listen: { host: '127.0.0.1', port: 9999, drain_timeout_ms: 8_000, workers: 1 },
  });
});

test('interpolation: defaults, coercion to the key type, escapes, opaque sections', () => {
  const file = fixture('interpolation.yaml');
  const c = loadConfig({ file, env: { CM_UPSTREAM_HOST: 'gw.example', CM_CONNECTIONS: '' } });
  assert.equal(c.listen.host, '0.0.0.0');
  assert.equal(c.listen.port, 8181); // "8181" read as the int the key expects
  assert.equal(c.upstream.url, 'https://gw.example/anthropic');
  assert.equal(c.upstream.api_key, null); // ${CM_KEY:-} -> '' -> null
  assert.equal(c.upstream.connections, 64); // set but empty: the :- default applies
  assert.equal(c.store.redis.url, null);
  assert.equal(c.store.redis.key_prefix, '${literal}-cm');
  assert.equal(c.metrics.key_label, false);
  assert.deepEqual(c.pricing.models, { 'claude-test': { note: 'a $$1 note' } });

  const set = loadConfig({
    file,
    env: { CM_UPSTREAM_HOST: 'h', CM_PORT: '7000', CM_KEY: 'sk-x', CM_KEY_LABEL: 'true', CM_REDIS: 'redis://r:6379' },
  });
  assert.equal(set.listen.port, 7000);
  assert.equal(set.upstream.api_key, 'sk-x');
  assert.equal(set.metrics.key_label, true);
  assert.equal(set.store.redis.url, 'redis://r:6379');
});

test('an interpolated value that does not fit the key is reported at the key', () => {
  assertConfigError(
    () => loadConfig({ file: fixture('interpolation.yaml'), env: { CM_UPSTREAM_HOST: 'h', CM_PORT: '80a' } }),
    `${fixture('interpolation.yaml')}: config error at listen.port: expected an integer, got '80a'`,
  );
});

test('listen.drain_timeout_ms: 0 (cut at once) to an hour; anything else refused at the key', () => {
  assert.equal(loadText('listen:\n  drain_timeout_ms: 0\n').listen.drain_timeout_ms, 0);
  assert.equal(loadText('listen:\n  drain_timeout_ms: 3600000\n').listen.drain_timeout_ms, 3_600_000);
  for (const bad of ['-1', '3600001', '1.5', 'soon']) {
    assert.throws(
      () => loadText(`listen:\n  drain_timeout_ms: ${bad}\n`),
      (err: Error) => err.message.startsWith('/etc/cm/inline.yaml: config error at listen.drain_timeout_ms: '),
      bad,
    );
  }
});

test('listen.workers: 1 by default, 0 (auto) to 256; anything else refused at the key', () => {
  assert.equal(loadText('listen:\n  port: 1\n').listen.workers, 1);
  assert.equal(loadText('listen:\n  workers: 0\n').listen.workers, 0);
  assert.equal(loadText('listen:\n  workers: 256\n').listen.workers, 256);
  for (const bad of ['-1', '257', '1.5', 'auto']) {
    assert.throws(
      () => loadText(`listen:\n  workers: ${bad}\n`),
      (err: Error) => err.message.startsWith('/etc/cm/inline.yaml: config error at listen.workers: '),
      bad,
    );
  }
});

test('a literal quoted number is still a type error (only ${...} values are coerced)', () => {
  assertConfigError(
    () => loadText('listen:\n  port: "8080"\n'),
    "/etc/cm/inline.yaml: config error at listen.port: expected an integer, got '8080'",
  );
});

test('a variable cannot inject YAML structure', () => {
  const c = loadText('upstream:\n  api_key: ${K}\n', { K: 'x\nlog:\n  level: debug' });
  assert.equal(c.upstream.api_key, 'x\nlog:\n  level: debug');
  assert.equal(c.log.level, 'info');
  assertConfigError(
    () => loadText('listen: ${L}\n', { L: '{port: 1}' }),
    "/etc/cm/inline.yaml: config error at listen: expected a mapping, got '{port: 1}'",
  );
});

test('env overrides win over the file', () => {
  const c = loadConfig({
    file: fixture('partial.yaml'),
    env: { PORT: '7070', UPSTREAM_URL: 'http://127.0.0.1:9000', REDIS_URL: 'redis://localhost:6379/2' },
  });
  assert.equal(c.listen.port, 7070);
  assert.equal(c.upstream.url, 'http://127.0.0.1:9000');
  assert.equal(c.store.redis.url, 'redis://localhost:6379/2');
});

test('REDIS_URL empty means no Redis, even over a file that names one', () => {
  const c = loadText('store:\n  redis:\n    url: redis://cache:6379\n', { REDIS_URL: '' });
  assert.equal(c.store.redis.url, null);
});

test('invalid env overrides are errors at <env>, naming the variable', () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'http' }, "<env>: config error at PORT: expected an integer, got 'http'"],
    [{ PORT: '65536' }, '<env>: config error at PORT: must be between 0 and 65535, got 65536'],
    [{ PORT: '' }, "<env>: config error at PORT: expected an integer, got ''"],
    [
      { UPSTREAM_URL: 'api.anthropic.com' },
      "<env>: config error at UPSTREAM_URL: expected a URL with scheme https: or http:, got 'api.anthropic.com'",
    ],
    [{ REDIS_URL: 'http://cache' }, "<env>: config error at REDIS_URL: expected a URL with scheme redis: or rediss:, got 'http://cache'"],
    // A rejected URL's password never reaches the message (it goes to logs).
    [
      { REDIS_URL: 'redis//app:s3cret@cache' },
      "<env>: config error at REDIS_URL: expected a URL with scheme redis: or rediss:, got 'redis//app:***@cache'",
    ],
  ];
  for (const [env, message] of cases) {
    const err = assertConfigError(() => loadConfig({ file: null, env }), message);
    assert.equal(err.file, '<env>');
  }
});

test('the shipped proxy.config.yaml loads and equals the defaults', () => {
  assert.deepEqual(loadConfig({ file: SHIPPED, env: {} }), { source: SHIPPED, ...DEFAULTS });
});

test('the shipped config runs without Redis, and takes REDIS_URL through ${REDIS_URL:-}', () => {
  assert.equal(loadConfig({ file: SHIPPED, env: { REDIS_URL: '' } }).store.redis.url, null);
  assert.equal(loadConfig({ file: SHIPPED, env: { REDIS_URL: 'rediss://r:6380' } }).store.redis.url, 'rediss://r:6380');
});

test('the result is deep-frozen', () => {
  const c = loadConfig({ file: fixture('interpolation.yaml'), env: { CM_UPSTREAM_HOST: 'h' } });
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.store.redis));
  assert.ok(Object.isFrozen(c.pricing.models['claude-test']));
  assert.throws(() => {
    (c.listen as { port: number }).port = 1;
  }, TypeError);
  assert.ok(Object.isFrozen(DEFAULTS.upstream));
});

test('pricing.file is resolved relative to the config file', () => {
  const c = loadText('pricing:\n  file: prices/extra.yaml\n');
  assert.equal(c.pricing.file, '/etc/cm/prices/extra.yaml');
  assert.equal(loadText('pricing:\n  file: /opt/p.yaml\n').pricing.file, '/opt/p.yaml');
});

test('YAML edge cases: keys that collide as strings, aliases, multiple documents', () => {
  const f = '/etc/cm/inline.yaml: config error at (yaml)';
  assertConfigError(() => loadText('pricing:\n  models:\n    1: {}\n    "1": {}\n'), `${f}: duplicate key '1' at line 4, column 5`);
  assertConfigError(() => loadText('listen: *nowhere\n'), `${f}: Unresolved alias (the anchor must be set before the alias): nowhere`);
  assertConfigError(() => loadText('a: &x [*x]\n'), '/etc/cm/inline.yaml: config error at a[0]: recursive YAML alias');
  assertConfigError(
    () => loadText('log: {level: info}\n---\nlog: {level: debug}\n'),
    `${f}: Source contains multiple documents; please use YAML.parseAllDocuments() at line 2, column 1`,
  );
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]']
    .concat(['c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'])
    .join('\n');
  assertConfigError(() => loadText(bomb), `${f}: Excessive alias count indicates a resource exhaustion attack`);
  // A plain alias is fine.
  const c = loadText('upstream:\n  headers_timeout_ms: &t 1000\n  body_timeout_ms: *t\n');
  assert.equal(c.upstream.body_timeout_ms, 1000);
});

test('a read failure other than not-found keeps its cause', () => {
  const boom = new Error('EACCES: permission denied');
  const err = assertConfigError(
    () =>
      loadConfig({
        file: '/etc/cm/x.yaml',
        env: {},
        readFile: () => {
          throw boom;
        },
      }),
    '/etc/cm/x.yaml: config error at (file): cannot read file: EACCES: permission denied',
  );
  assert.equal(err.cause, boom);
});

test('limits.max_spooled_batch_bytes below max_batch_body_bytes is an error where batches spool: a batch that size could never be read', () => {
  assertConfigError(
    () =>
      loadText(
        'limits:\n  max_request_body_bytes: 1000\n  max_buffered_request_bytes: 1000\n  max_batch_body_bytes: 1000000\n  max_spooled_batch_bytes: 999999\n',
      ),
    '/etc/cm/inline.yaml: config error at limits.max_spooled_batch_bytes: must be at least max_batch_body_bytes (1000000): a batch that size could never be read',
  );
  // A batch body bound within the memory bound is never spooled: nothing to check.
  assert.equal(
    loadText('limits:\n  max_batch_body_bytes: 1000000\n  max_spooled_batch_bytes: 999999\n').limits.max_spooled_batch_bytes,
    999999,
  );
  assert.equal(loadText('limits:\n  max_batch_body_bytes: 1000\n').limits.max_spooled_batch_bytes, 1024 * 1024 * 1024);
});

test('limits.max_buffered_request_bytes below max_request_body_bytes is an error: a body that size could never be read', () => {
  assertConfigError(
    () => loadText('limits:\n  max_request_body_bytes: 1000\n  max_buffered_request_bytes: 999\n'),
    '/etc/cm/inline.yaml: config error at limits.max_buffered_request_bytes: must be at least max_request_body_bytes (1000): a body that size could never be read',
  );
  assert.equal(
    loadText('limits:\n  max_request_body_bytes: 1000\n  max_buffered_request_bytes: 1000\n').limits.max_buffered_request_bytes,
    1000,
  );
  assertConfigError(
    () => loadText('metrics:\n  max_label_values: 0\n'),
    '/etc/cm/inline.yaml: config error at metrics.max_label_values: must be between 1 and 100000, got 0',
  );
});
