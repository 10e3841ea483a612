import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeConfig, loadConfig } from '../../../src/config/load.ts';
import { redactRedisUrl, redactUrl } from '../../../src/config/describe.ts';

const load = (env: Record<string, string>, text = '') => loadConfig({ file: '/etc/cm/c.yaml', env, readFile: () => text });

test('describeConfig hides the upstream API key and the Redis password', () => {
  const c = load({ REDIS_URL: 'redis://app:s3cret@cache:6379/0', ANTHROPIC_KEY: 'sk-ant-xyz' }, 'upstream:\n  api_key: ${ANTHROPIC_KEY}\n');
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

test('describeConfig hides the admin token and the secret part of the alert webhook URL', () => {
  const c = load(
    { HOOK: 'https://hooks.slack.com/services/T000/B000/s3cretpath', ADMIN: 'adm-t0ken' },
    'alerts:\n  webhook_url: ${HOOK}\nadmin:\n  token: ${ADMIN}\n',
  );
  const d = describeConfig(c);
  const text = JSON.stringify(d);
  assert.ok(!text.includes('s3cretpath'));
  assert.ok(!text.includes('adm-t0ken'));
  assert.deepEqual(d, {
    ...c,
    alerts: { ...c.alerts, webhook_url: 'https://hooks.slack.com/***' },
    admin: { token: '***', protect_metrics: false },
  });
});

test('redactUrl keeps the origin and hides userinfo, path, query and fragment', () => {
  assert.equal(redactUrl('https://hooks.example.com/'), 'https://hooks.example.com');
  assert.equal(redactUrl('https://hooks.example.com'), 'https://hooks.example.com');
  assert.equal(redactUrl('http://alerts.internal:9000/hook?token=abc'), 'http://alerts.internal:9000/***');
  assert.equal(redactUrl('https://user:pw@h.example/x'), 'https://***@h.example/***');
  assert.equal(redactUrl('https://h.example/#frag'), 'https://h.example/***');
  assert.equal(redactUrl('https://h.example/?q=1'), 'https://h.example/***');
  assert.equal(redactUrl('not a url'), '***');
});

test('describeConfig hides the path and userinfo of the upstream URL (a relay token) and keeps a plain origin as is', () => {
  const relay = describeConfig(load({ UPSTREAM_URL: 'https://u:p@relay.example:8443/v1/tok-3f9a?k=1' })) as { upstream: { url: string } };
  assert.equal(relay.upstream.url, 'https://***@relay.example:8443/***');
  const plain = describeConfig(load({})) as { upstream: { url: string } };
  assert.equal(plain.upstream.url, 'https://api.anthropic.com');
});
