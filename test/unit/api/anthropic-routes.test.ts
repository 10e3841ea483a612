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

test('the match is loose toward metering: case, and trailing dots, spaces and tabs of the last segment, raw or escaped', () => {
  for (const p of [
    '/V1/Messages',
    '/v1/MESSAGES',
    '/v1/messages.',
    '/v1/messages..',
    '/v1/messages%20',
    '/v1/messages%20.%09',
    '/v1/messages ',
    '/v1/messages\t',
    '/v1/messages./',
    '/v1/messages%2e'.replace('%2e', '.'),
  ])
    assert.equal(route('POST', p), 'metered', p);
  assert.equal(route('POST', '/V1/MESSAGES.?beta=true'), 'metered');
  assert.equal(route('POST', '/v1/Messages/Count_Tokens.'), 'free');
  assert.equal(route('POST', '/V1/complete%20'), 'unreported');
  for (const p of ['/v1/messagesx', '/v1/messages/batches', '/v1/messages/BATCHES.', '/v1/messages.x', '.', '', '%20', '/v1/messages%2'])
    assert.equal(route('POST', p), 'passthrough', p);
  assert.equal(route('GET', '/V1/MESSAGES'), 'passthrough');
});
