/** The Message Batches calls, the results_url rewrite and the batch objects' facts (src/api/anthropic/batches.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { batchCall, proxiedResultsUrl, readBatchObjects, rewriteResultsUrls } from '../../../src/api/anthropic/batches.ts';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { BatchObjectFilter, isJson } from '../../../src/http/batch-objects.ts';

const ID = 'msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d';

test('batch calls by method and path; loose toward metering, the id as sent', () => {
  assert.deepEqual(batchCall('POST', '/v1/messages/batches'), { kind: 'create', id: null });
  assert.deepEqual(batchCall('post', '/v1/messages/batches/?beta=true'), { kind: 'create', id: null });
  assert.deepEqual(batchCall('GET', '/v1/messages/batches?limit=20'), { kind: 'list', id: null });
  assert.deepEqual(batchCall('GET', `/v1/messages/batches/${ID}`), { kind: 'object', id: ID });
  assert.deepEqual(batchCall('DELETE', `/v1/messages/batches/${ID}`), { kind: 'object', id: ID });
  assert.deepEqual(batchCall('POST', `/v1/messages/batches/${ID}/cancel`), { kind: 'object', id: ID });
  assert.deepEqual(batchCall('GET', `/v1/messages/batches/${ID}/results`), { kind: 'results', id: ID });
  // Spellings an upstream may normalize still count; the id keeps its case.
  assert.deepEqual(batchCall('GET', `/V1/Messages/Batches/${ID}/Results/`), { kind: 'results', id: ID });
  assert.deepEqual(batchCall('GET', `/v1/messages/batches/${ID}/results.`), { kind: 'results', id: ID });
  for (const [m, p] of [
    ['PUT', '/v1/messages/batches'],
    ['POST', `/v1/messages/batches/${ID}`],
    ['POST', `/v1/messages/batches/${ID}/results`],
    ['GET', `/v1/messages/batches/${ID}/cancel`],
    ['GET', '/v1/messages'],
    ['GET', `/v1/messages/batches/${ID}/results/extra`],
  ] as const)
    assert.equal(batchCall(m, p), null, `${m} ${p}`);
  assert.equal(anthropic.batches?.call('POST', '/v1/messages/batches')?.kind, 'create');
  assert.equal(anthropic.route('POST', '/v1/messages/batches'), 'passthrough', 'not a metered Messages call');
});

test('a results URL points through the proxy: the API path on, relative or under a base', () => {
  const up = `https://api.anthropic.com/v1/messages/batches/${ID}/results`;
  assert.equal(proxiedResultsUrl(up, null), `/v1/messages/batches/${ID}/results`);
  assert.equal(
    proxiedResultsUrl(up, 'https://meter.example.com/anthropic/'),
    `https://meter.example.com/anthropic/v1/messages/batches/${ID}/results`,
  );
  assert.equal(
    proxiedResultsUrl(`https://relay.example/claude/v1/messages/batches/${ID}/results?x=1`, null),
    `/v1/messages/batches/${ID}/results?x=1`,
  );
  assert.equal(proxiedResultsUrl('https://files.example/download/abc', null), null, 'not a batch results URL: unchanged');
  assert.equal(proxiedResultsUrl(`https://x/v1/messages/batches/${ID}`, null), null);
  assert.equal(proxiedResultsUrl('http://[bad', null), null);
});

test('rewriteResultsUrls changes only results_url members, in a batch object and in a list', () => {
  const obj = {
    id: ID,
    type: 'message_batch',
    processing_status: 'ended',
    request_counts: { processing: 0, succeeded: 2, errored: 0, canceled: 0, expired: 0 },
    ended_at: '2026-12-06T23:30:00Z',
    created_at: '2026-12-06T10:00:00Z',
    expires_at: '2026-12-07T10:00:00Z',
    results_url: `https://api.anthropic.com/v1/messages/batches/${ID}/results`,
  };
  const text = JSON.stringify(obj, null, 2);
  const out = rewriteResultsUrls(text, null);
  assert.deepEqual(JSON.parse(out), { ...obj, results_url: `/v1/messages/batches/${ID}/results` });
  assert.equal(
    out.replace(`"/v1/messages/batches/${ID}/results"`, ''),
    text.replace(`"${obj.results_url}"`, ''),
    'every other byte unchanged',
  );
  const list = JSON.stringify({ data: [obj, { ...obj, id: 'msgbatch_2', results_url: null }], has_more: false });
  const parsed = JSON.parse(rewriteResultsUrls(list, 'https://m.example'));
  assert.equal(parsed.data[0].results_url, `https://m.example/v1/messages/batches/${ID}/results`);
  assert.equal(parsed.data[1].results_url, null);
  // A member name inside a string value is not a member: escaped quotes cannot match.
  const tricky = JSON.stringify({ note: `"results_url": "${obj.results_url}"`, results_url: null });
  assert.equal(rewriteResultsUrls(tricky, null), tricky);
});

test('property: the rewrite keeps any JSON valid and changes nothing but results_url values', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.webUrl(), (v, url) => {
      const doc = {
        data: [{ type: 'message_batch', id: 'msgbatch_x', results_url: `${url}/v1/messages/batches/msgbatch_x/results`, extra: v }],
      };
      const out = JSON.parse(rewriteResultsUrls(JSON.stringify(doc), null));
      assert.equal(out.data[0].results_url, '/v1/messages/batches/msgbatch_x/results');
      assert.deepEqual(out.data[0].extra, JSON.parse(JSON.stringify(v)));
    }),
    { numRuns: 300 },
  );
});

test('readBatchObjects: the life of each batch in an answer; other shapes give none', () => {
  const one = readBatchObjects({
    id: ID,
    type: 'message_batch',
    processing_status: 'ended',
    created_at: '2026-12-06T10:00:00Z',
    expires_at: '2026-12-07T10:00:00Z',
    ended_at: '2026-12-06T23:30:00Z',
  });
  assert.deepEqual(one, [
    {
      id: ID,
      status: 'ended',
      createdAt: Date.parse('2026-12-06T10:00:00Z'),
      expiresAt: Date.parse('2026-12-07T10:00:00Z'),
      endedAt: Date.parse('2026-12-06T23:30:00Z'),
    },
  ]);
  assert.equal(readBatchObjects({ data: [{ id: 'a', type: 'message_batch' }, { id: 'b', type: 'other' }, null] }).length, 1);
  assert.deepEqual(readBatchObjects({ id: 'x', type: 'message_batch_deleted' }), []);
  assert.deepEqual(readBatchObjects(null), []);
  assert.deepEqual(readBatchObjects({ id: 'x'.repeat(200), type: 'message_batch' }), [], 'an id past the bound is not remembered');
});

test('BatchObjectFilter holds a JSON answer whole, rewrites it, reports its objects; past its bound it passes unchanged', () => {
  const api = anthropic.batches;
  assert.ok(api);
  const body = Buffer.from(
    JSON.stringify({ id: ID, type: 'message_batch', ended_at: null, results_url: `https://u/v1/messages/batches/${ID}/results` }),
  );
  let seen = 0;
  const f = new BatchObjectFilter({
    api,
    base: null,
    onObjects: (o) => (seen += o.length),
    onTooLarge: () => assert.fail('not too large'),
  });
  assert.equal(f.push(body.subarray(0, 10)).length, 0);
  assert.equal(f.push(body.subarray(10)).length, 0);
  assert.equal(JSON.parse(f.end().toString()).results_url, `/v1/messages/batches/${ID}/results`);
  assert.equal(seen, 1);

  let large = 0;
  const g = new BatchObjectFilter({ api, base: null, max: 16, onObjects: () => assert.fail('not read'), onTooLarge: () => large++ });
  const out = Buffer.concat([g.push(body.subarray(0, 10)), g.push(body.subarray(10)), g.end()]);
  assert.ok(out.equals(body), 'the upstream bytes, unchanged');
  assert.equal(large, 1);

  const h = new BatchObjectFilter({ api, base: null, onObjects: () => assert.fail('not JSON'), onTooLarge: () => {} });
  h.push(Buffer.from('{"broken'));
  assert.equal(h.end().toString(), '{"broken');
  assert.ok(
    isJson('application/json; charset=utf-8') && isJson('application/problem+json') && !isJson('application/binary') && !isJson(undefined),
  );
});

test('a results_url naming another host and path points through the proxy too, at the object’s own results (the SDK would send the client key there)', () => {
  const text = JSON.stringify({ id: 'msgbatch_01', type: 'message_batch', results_url: 'https://collector.example/x?batch=msgbatch_01' });
  const out = JSON.parse(rewriteResultsUrls(text, null)) as { results_url: string };
  assert.equal(out.results_url, '/v1/messages/batches/msgbatch_01/results', 'every results_url of a batch object points through the proxy');
});
