import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeConfig, loadConfig } from '../../../src/config/load.ts';
import { redactRedisUrl } from '../../../src/config/describe.ts';

const load = (env: Record<string, string>, text = '') => loadConfig({ file: '/etc/cm/c.yaml', env, readFile: () => text });

test('describeConfig hides the upstream API key and the Redis password', () => {
  const c = load(
    { REDIS_URL: 'redis://app:s3cret@cache:6379/0', ANTHROPIC_KEY: 'sk-ant-xyz' },
    'upstream:\n  api_key: ${ANTHROPIC_KEY}\n',
  );
  const d = describeConfig(c);
  const text = JSON.stringify(d);
  assert.ok(!text.includes('sk-ant-xyz'));
  assert.ok(!text.includes('s3cret'));
  assert.deepEqual(d, {
    ...c,
    upstream: { ...c.upstream, api_key: '***' },
    store: { ...c.store, redis: { ...c.store.redis, url: 'redis://app:***@cache:6379/0' } },
  });
  assert.equal(c.upstream.api_key, 'sk-ant-xyz', 'the config itself is untouched');
});

test('describeConfig leaves null secrets as null', () => {
  const c = load({});
  assert.deepEqual(describeConfig(c), c);
});

test('redactRedisUrl covers every place ioredis reads a password from', () => {
  assert.equal(redactRedisUrl('redis://:pw@h:6379'), 'redis://:***@h:6379');
  assert.equal(redactRedisUrl('rediss://user:p%40ss@h/1'), 'rediss://user:***@h/1');
  assert.equal(redactRedisUrl('redis://h:6379/0?password=pw&db=1'), 'redis://h:6379/0?password=***&db=1');
  assert.equal(redactRedisUrl('redis://user@h:6379'), 'redis://user@h:6379');
  assert.equal(redactRedisUrl('redis://h:6379'), 'redis://h:6379');
  assert.equal(redactRedisUrl('not a url'), '***');
});
