import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { OUTAGE_SUMMARY_EVERY_MS, OutageLog } from '../../../src/lib/outage-log.ts';
import { recordingLogger } from '../../helpers/start-proxy.ts';

const MESSAGES = { down: 'store down', still: 'store still down', up: 'store up' };

test('an outage of 10,000 failures over 200 s: one line down, a summary per minute with its count, one line up', async () => {
  const clock = new ManualClock(1_000_000);
  const logger = recordingLogger();
  const log = new OutageLog({ logger, clock, messages: MESSAGES, level: 'error' });
  log.recovered(); // nothing to recover from: no line
  assert.equal(logger.lines.length, 0);
  for (let i = 0; i < 10_000; i++) {
    log.failed(new Error(`ECONNREFUSED ${i}`), () => ({ journaled: i }));
    await clock.advance(20); // failure i at i × 20 ms
  }
  assert.equal(log.down, true);
  log.recovered(() => ({ journaled: 0 }));
  assert.equal(log.down, false);
  const summary = (l: (typeof logger.lines)[number]) => [l.level, l.msg, l.obj['failures'], l.obj['err']];
  assert.deepEqual(logger.lines.map(summary), [
    ['error', 'store down', undefined, 'ECONNREFUSED 0'],
    // The first failure 60 s after the last line writes the summary, counting those since that line.
    ['error', 'store still down', 3000, 'ECONNREFUSED 3000'],
    ['error', 'store still down', 3000, 'ECONNREFUSED 6000'],
    ['error', 'store still down', 3000, 'ECONNREFUSED 9000'],
    ['info', 'store up', 10_000, undefined],
  ]);
  assert.equal(logger.lines[0]?.obj['journaled'], 0, 'fields come with the line');
  assert.equal(logger.lines[1]?.obj['failures_total'], 3001);
  assert.equal(logger.lines[1]?.obj['down_ms'], OUTAGE_SUMMARY_EVERY_MS);
  assert.equal(logger.lines[4]?.obj['down_ms'], 10_000 * 20);

  // The next outage starts over: its first failure is a down line again, warn by default.
  const warn = recordingLogger();
  const again = new OutageLog({ logger: warn, clock, messages: MESSAGES });
  again.failed('boom');
  again.failed('boom');
  again.recovered();
  again.failed('boom 2');
  assert.deepEqual(
    warn.lines.map((l) => [l.level, l.msg, l.obj['err']]),
    [
      ['warn', 'store down', 'boom'],
      ['info', 'store up', undefined],
      ['warn', 'store down', 'boom 2'],
    ],
  );
  assert.equal(warn.lines[1]?.obj['failures'], 2);
});
