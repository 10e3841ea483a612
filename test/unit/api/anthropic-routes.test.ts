import { test } from 'node:test';
import assert from 'node:assert/strict';
import { route } from '../../../src/api/anthropic/routes.ts';

const metered = (method: string, path: string): boolean => route(method, path) === 'metered';
const free = (method: string, path: string): boolean => route(method, path) === 'free';

test('path helpers: method, query string and trailing slash', () => {
  assert.equal(metered('POST', '/v1/messages'), true);
  assert.equal(metered('post', '/v1/messages?beta=true'), true);
  assert.equal(metered('POST', '/v1/messages/'), true);
  assert.equal(metered('GET', '/v1/messages'), false);
  assert.equal(metered('POST', '/v1/messages/count_tokens'), false);
  assert.equal(metered('POST', '/v1/messages/batches'), false);
  assert.equal(metered('POST', '/v1/messagesX'), false);
  assert.equal(free('POST', '/v1/messages/count_tokens?beta=true'), true);
  assert.equal(free('POST', '/v1/messages/count_tokens/'), true);
  assert.equal(free('GET', '/v1/messages/count_tokens'), false);
});

test('routes: /v1/complete is billed without usage; everything else passes through', () => {
  assert.equal(route('POST', '/v1/complete'), 'unreported');
  assert.equal(route('GET', '/v1/models'), 'passthrough');
  assert.equal(route('POST', '/v1/messages/batches'), 'passthrough');
});
