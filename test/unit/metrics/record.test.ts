/** recordMetrics(): what one settled request adds to the per-request series. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { recordMetrics } from '../../../src/metrics/record.ts';
import { rec } from '../../contract/fixtures.ts';

test('a disabled label does not split the table: tag label only, a thousand API keys make one series per tag', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: true, defaultMetrics: false });
  for (let i = 0; i < 1000; i++) {
    recordMetrics(
      metrics,
      rec({
        model: 'm',
        status: 401,
        latencyMs: 1,
        ttftMs: null,
        usage: null,
        usageMissing: 'unparseable_body',
        costPicoUsd: 0,
        keyId: `key-${i}`,
        tag: i % 2 ? 'web' : '',
      }),
      'm',
    );
  }
  assert.equal(metrics.series.model('m').requests.size, 2);
  const text = await metrics.registry.getSingleMetricAsString('claude_meter_requests_total');
  assert.match(text, /^claude_meter_requests_total\{model="m",status="401",tag="web"\} 500$/m);
  assert.match(text, /^claude_meter_requests_total\{model="m",status="401",tag="untagged"\} 500$/m);
});
