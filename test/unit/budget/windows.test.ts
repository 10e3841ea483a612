import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextReset, parseWindow, validTimezone, windowAt, zoneOffsetMs } from '../../../src/budget/windows.ts';
import type { WindowInstance } from '../../../src/budget/types.ts';

const H = 3_600_000;
const at = (iso: string): number => Date.parse(iso);
const win = (window: string, tz: string, iso: string): WindowInstance => windowAt(parseWindow(window, tz), at(iso));

/** Asserts id and [start, end) as ISO strings, and that a calendar window is one segment. */
function expectWindow(w: WindowInstance, id: string, start: string, end: string): void {
  assert.deepEqual({ id: w.id, start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString() }, { id, start, end });
  assert.equal(w.segmentMs, w.end - w.start);
  assert.equal(w.rollingMs, null);
}

test('parseWindow: calendar units and rolling lengths', () => {
  for (const unit of ['hour', 'day', 'week', 'month'] as const) {
    assert.deepEqual(parseWindow(unit, 'Europe/Berlin'), { kind: 'calendar', unit, timezone: 'Europe/Berlin' });
  }
  assert.deepEqual(parseWindow('90m', 'UTC'), { kind: 'rolling', ms: 90 * 60_000 });
  assert.deepEqual(parseWindow('24h', 'UTC'), { kind: 'rolling', ms: 24 * H });
  assert.deepEqual(parseWindow('7d', 'UTC'), { kind: 'rolling', ms: 7 * 24 * H });
  assert.deepEqual(parseWindow('1m', 'UTC'), { kind: 'rolling', ms: 60_000 });
  assert.deepEqual(parseWindow('31d', 'UTC'), { kind: 'rolling', ms: 31 * 24 * H });
  assert.deepEqual(parseWindow('744h', 'UTC'), { kind: 'rolling', ms: 31 * 24 * H });
  // Rolling windows ignore the zone, so an odd one does not matter there (config checks it separately).
  assert.deepEqual(parseWindow('1h', 'Mars/Base'), { kind: 'rolling', ms: H });
});

test('parseWindow: bad input is refused with the reason', () => {
  const invalid = (w: string) =>
    `invalid window '${w}': expected hour, day, week or month (calendar), or a rolling length like 90m, 24h or 7d`;
  const cases: Array<[string, string, string]> = [
    ['fortnight', 'UTC', invalid('fortnight')],
    ['Day', 'UTC', invalid('Day')],
    ['1.5h', 'UTC', invalid('1.5h')],
    ['-5m', 'UTC', invalid('-5m')],
    ['10s', 'UTC', invalid('10s')],
    ['2w', 'UTC', invalid('2w')],
    ['', 'UTC', invalid('')],
    [' 1h', 'UTC', invalid(' 1h')],
    ['0m', 'UTC', "rolling window '0m' is shorter than the minimum 1m"],
    ['0d', 'UTC', "rolling window '0d' is shorter than the minimum 1m"],
    ['32d', 'UTC', "rolling window '32d' is longer than the maximum 31d"],
    ['745h', 'UTC', "rolling window '745h' is longer than the maximum 31d"],
    ['99999999999999999999m', 'UTC', "rolling window '99999999999999999999m' is longer than the maximum 31d"],
    ['day', 'Mars/Base', "unknown time zone 'Mars/Base'"],
    ['month', '', "unknown time zone ''"],
  ];
  for (const [w, tz, message] of cases) {
    assert.throws(
      () => parseWindow(w, tz),
      (err: unknown) => err instanceof Error && err.message === message,
      `${w} ${tz}`,
    );
  }
});

test('validTimezone', () => {
  for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'Etc/GMT+5']) {
    assert.equal(validTimezone(tz), true, tz);
  }
  // Offsets are refused on every runtime, also where ICU accepts them (Node 24).
  for (const tz of ['', 'Mars/Base', 'Europe/Berln', '+05:30', '-08:00', '+0530', 'UTC+1']) assert.equal(validTimezone(tz), false, tz);
});

test('UTC calendar windows and ids', () => {
  expectWindow(win('hour', 'UTC', '2026-11-28T13:45:12.345Z'), '2026-11-28T13', '2026-11-28T13:00:00.000Z', '2026-11-28T14:00:00.000Z');
  expectWindow(win('day', 'UTC', '2026-11-28T13:45:00Z'), '2026-11-28', '2026-11-28T00:00:00.000Z', '2026-11-29T00:00:00.000Z');
  expectWindow(win('week', 'UTC', '2026-11-28T13:45:00Z'), '2026-W48', '2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z');
  expectWindow(win('month', 'UTC', '2026-11-28T13:45:00Z'), '2026-11', '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z');
});

test('boundaries: start is inclusive, end exclusive', () => {
  const spec = parseWindow('day', 'UTC');
  assert.equal(windowAt(spec, at('2026-11-28T00:00:00Z')).id, '2026-11-28');
  assert.equal(windowAt(spec, at('2026-11-28T23:59:59.999Z')).id, '2026-11-28');
  assert.equal(windowAt(spec, at('2026-11-29T00:00:00Z')).id, '2026-11-29');
  assert.equal(windowAt(spec, at('2026-11-27T23:59:59.999Z')).id, '2026-11-27');
});

test('month ends: Jan 31 → Feb, Dec → next year, leap and non-leap February', () => {
  expectWindow(win('month', 'UTC', '2026-01-31T23:59:59.999Z'), '2026-01', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z');
  expectWindow(win('month', 'UTC', '2026-02-01T00:00:00Z'), '2026-02', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z');
  expectWindow(win('month', 'UTC', '2026-12-31T12:00:00Z'), '2026-12', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z');
  const leap = win('month', 'UTC', '2028-02-29T12:00:00Z');
  expectWindow(leap, '2028-02', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z');
  assert.equal(leap.end - leap.start, 29 * 24 * H);
  expectWindow(win('day', 'UTC', '2028-02-29T12:00:00Z'), '2028-02-29', '2028-02-29T00:00:00.000Z', '2028-03-01T00:00:00.000Z');
  const plain = win('month', 'UTC', '2027-02-28T23:00:00Z');
  expectWindow(plain, '2027-02', '2027-02-01T00:00:00.000Z', '2027-03-01T00:00:00.000Z');
  assert.equal(plain.end - plain.start, 28 * 24 * H);
  assert.equal(win('day', 'UTC', '2027-02-28T23:00:00Z').end, at('2027-03-01T00:00:00Z'));
});

test('ISO week-year edges', () => {
  // 2026-12-31 is a Thursday; the week Mon 28 Dec .. Sun 3 Jan is 2026-W53, so 2027-01-01 is in it too.
  for (const day of ['2026-12-28', '2026-12-31', '2027-01-01', '2027-01-03']) {
    expectWindow(win('week', 'UTC', `${day}T12:00:00Z`), '2026-W53', '2026-12-28T00:00:00.000Z', '2027-01-04T00:00:00.000Z');
  }
  expectWindow(win('week', 'UTC', '2027-01-04T00:00:00Z'), '2027-W01', '2027-01-04T00:00:00.000Z', '2027-01-11T00:00:00.000Z');
  // 2024-12-30 (Monday) starts 2025-W01: the week-year runs ahead of the calendar year.
  expectWindow(win('week', 'UTC', '2024-12-31T12:00:00Z'), '2025-W01', '2024-12-30T00:00:00.000Z', '2025-01-06T00:00:00.000Z');
  // Sunday is the last day of the ISO week.
  assert.equal(win('week', 'UTC', '2026-11-29T23:59:59Z').id, '2026-W48');
  assert.equal(win('week', 'UTC', '2026-11-30T00:00:00Z').id, '2026-W49');
});

test('DST in America/New_York: 23 h and 25 h days starting at local midnight', () => {
  const spring = win('day', 'America/New_York', '2026-03-08T12:00:00Z');
  expectWindow(spring, '2026-03-08', '2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z');
  assert.equal(spring.end - spring.start, 23 * H);
  const fall = win('day', 'America/New_York', '2026-11-01T12:00:00Z');
  expectWindow(fall, '2026-11-01', '2026-11-01T04:00:00.000Z', '2026-11-02T05:00:00.000Z');
  assert.equal(fall.end - fall.start, 25 * H);
  // A week and a month holding a change are an hour short or long too.
  const week = win('week', 'America/New_York', '2026-03-08T12:00:00Z');
  expectWindow(week, '2026-W10', '2026-03-02T05:00:00.000Z', '2026-03-09T04:00:00.000Z');
  assert.equal(week.end - week.start, 7 * 24 * H - H);
  const nov = win('month', 'America/New_York', '2026-11-15T12:00:00Z');
  expectWindow(nov, '2026-11', '2026-11-01T04:00:00.000Z', '2026-12-01T05:00:00.000Z');
  assert.equal(nov.end - nov.start, 30 * 24 * H + H);
});

test('DST in Europe/Berlin: 23 h and 25 h days starting at local midnight', () => {
  const spring = win('day', 'Europe/Berlin', '2026-03-29T12:00:00Z');
  expectWindow(spring, '2026-03-29', '2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z');
  assert.equal(spring.end - spring.start, 23 * H);
  const fall = win('day', 'Europe/Berlin', '2026-10-25T12:00:00Z');
  expectWindow(fall, '2026-10-25', '2026-10-24T22:00:00.000Z', '2026-10-25T23:00:00.000Z');
  assert.equal(fall.end - fall.start, 25 * H);
  // Just before local midnight (22:59 UTC in winter) is still the previous local day.
  assert.equal(win('day', 'Europe/Berlin', '2026-12-31T22:59:59Z').id, '2026-12-31');
  assert.equal(win('day', 'Europe/Berlin', '2026-12-31T23:00:00Z').id, '2027-01-01');
  assert.equal(win('month', 'Europe/Berlin', '2026-12-31T23:30:00Z').id, '2027-01');
  assert.equal(win('week', 'Europe/Berlin', '2026-12-27T23:30:00Z').id, '2026-W53'); // Monday 28th local
});

test('a zone that skips midnight starts its day when the clock jumps (America/Santiago)', () => {
  // 2026-09-06 00:00 -04 jumps to 01:00 -03: the day begins at the jump.
  const d = win('day', 'America/Santiago', '2026-09-06T12:00:00Z');
  expectWindow(d, '2026-09-06', '2026-09-06T04:00:00.000Z', '2026-09-07T03:00:00.000Z');
  assert.equal(d.end - d.start, 23 * H);
});

test('half-hour and 45-minute offsets: Asia/Kolkata (+05:30), Asia/Kathmandu (+05:45)', () => {
  expectWindow(win('day', 'Asia/Kolkata', '2026-11-28T18:29:59Z'), '2026-11-28', '2026-11-27T18:30:00.000Z', '2026-11-28T18:30:00.000Z');
  expectWindow(win('day', 'Asia/Kolkata', '2026-11-28T18:30:00Z'), '2026-11-29', '2026-11-28T18:30:00.000Z', '2026-11-29T18:30:00.000Z');
  expectWindow(
    win('hour', 'Asia/Kolkata', '2026-11-28T07:45:00Z'),
    '2026-11-28T13',
    '2026-11-28T07:30:00.000Z',
    '2026-11-28T08:30:00.000Z',
  );
  expectWindow(win('month', 'Asia/Kolkata', '2028-02-15T00:00:00Z'), '2028-02', '2028-01-31T18:30:00.000Z', '2028-02-29T18:30:00.000Z');
  expectWindow(win('day', 'Asia/Kathmandu', '2026-11-28T12:00:00Z'), '2026-11-28', '2026-11-27T18:15:00.000Z', '2026-11-28T18:15:00.000Z');
  expectWindow(
    win('hour', 'Asia/Kathmandu', '2026-11-28T07:30:00Z'),
    '2026-11-28T13',
    '2026-11-28T07:15:00.000Z',
    '2026-11-28T08:15:00.000Z',
  );
  expectWindow(
    win('hour', 'Asia/Kathmandu', '2026-11-28T07:14:59Z'),
    '2026-11-28T12',
    '2026-11-28T06:15:00.000Z',
    '2026-11-28T07:15:00.000Z',
  );
});

test('hour windows across DST: the repeated fall-back hour is two windows with distinct ids', () => {
  const ny = (iso: string) => win('hour', 'America/New_York', iso);
  // Fall back 2026-11-01: 01:00-01:59 EDT, then 01:00-01:59 EST again.
  expectWindow(ny('2026-11-01T04:30:00Z'), '2026-11-01T00', '2026-11-01T04:00:00.000Z', '2026-11-01T05:00:00.000Z');
  const first = ny('2026-11-01T05:30:00Z');
  const second = ny('2026-11-01T06:30:00Z');
  expectWindow(first, '2026-11-01T01', '2026-11-01T05:00:00.000Z', '2026-11-01T06:00:00.000Z');
  expectWindow(second, '2026-11-01T01-05:00', '2026-11-01T06:00:00.000Z', '2026-11-01T07:00:00.000Z');
  assert.notEqual(first.id, second.id);
  expectWindow(ny('2026-11-01T07:00:00Z'), '2026-11-01T02', '2026-11-01T07:00:00.000Z', '2026-11-01T08:00:00.000Z');
  // Spring forward 2026-03-08: 01:59 EST is followed by 03:00 EDT; there is no hour 02.
  expectWindow(ny('2026-03-08T06:59:59Z'), '2026-03-08T01', '2026-03-08T06:00:00.000Z', '2026-03-08T07:00:00.000Z');
  expectWindow(ny('2026-03-08T07:00:00Z'), '2026-03-08T03', '2026-03-08T07:00:00.000Z', '2026-03-08T08:00:00.000Z');
  // Berlin falls back 03:00 CEST -> 02:00 CET: hour 02 twice.
  const b1 = win('hour', 'Europe/Berlin', '2026-10-25T00:30:00Z');
  const b2 = win('hour', 'Europe/Berlin', '2026-10-25T01:30:00Z');
  expectWindow(b1, '2026-10-25T02', '2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z');
  expectWindow(b2, '2026-10-25T02+01:00', '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z');
});

test('hour windows tile time: each one starts where the previous ended', () => {
  for (const tz of ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu']) {
    const spec = parseWindow('hour', tz);
    const ids = new Set<string>();
    // The spans that hold every 2026 change of these zones (Lord Howe: 5 Apr and 4 Oct, 30 min).
    for (const [from, to] of [
      ['2026-03-01', '2026-04-10'],
      ['2026-09-28', '2026-11-05'],
    ] as const) {
      let w = windowAt(spec, at(`${from}T00:00:00Z`));
      while (w.start < at(`${to}T00:00:00Z`)) {
        const next = windowAt(spec, w.end);
        assert.equal(next.start, w.end, `${tz} ${w.id}`);
        assert.ok(next.end > next.start && next.end - next.start <= H, `${tz} ${next.id}`);
        assert.ok(!ids.has(next.id), `${tz} repeated id ${next.id}`);
        ids.add(next.id);
        w = next;
      }
    }
  }
});

test('day windows tile time across a year of DST changes', () => {
  for (const tz of ['America/New_York', 'Europe/Berlin', 'America/Santiago', 'Asia/Kolkata']) {
    const spec = parseWindow('day', tz);
    let w = windowAt(spec, at('2026-01-01T12:00:00Z'));
    for (let i = 0; i < 366; i++) {
      const next = windowAt(spec, w.end);
      assert.equal(next.start, w.end, `${tz} ${w.id}`);
      assert.ok([23, 24, 25].includes((next.end - next.start) / H), `${tz} ${next.id}`);
      assert.ok(next.id > w.id, `${tz} ${next.id} after ${w.id}`);
      w = next;
    }
  }
});

test('rolling windows: [now - ms, now), ~120 segments of whole minutes', () => {
  const now = at('2026-11-28T13:45:12.345Z');
  assert.deepEqual(windowAt(parseWindow('24h', 'UTC'), now), {
    id: 'rolling',
    start: now - 24 * H,
    end: now,
    segmentMs: 12 * 60_000,
    rollingMs: 24 * H,
  });
  assert.deepEqual(windowAt(parseWindow('7d', 'UTC'), now), {
    id: 'rolling',
    start: now - 168 * H,
    end: now,
    segmentMs: 84 * 60_000,
    rollingMs: 168 * H,
  });
  // Short windows still use one-minute segments.
  assert.equal(windowAt(parseWindow('90m', 'UTC'), now).segmentMs, 60_000);
  assert.equal(windowAt(parseWindow('1m', 'UTC'), now).segmentMs, 60_000);
  // 31d / 120 = 372 min exactly; 100m / 120 = 50 s rounds to 1 min; 5h / 120 = 2.5 min rounds to 3.
  assert.equal(windowAt(parseWindow('31d', 'UTC'), now).segmentMs, 372 * 60_000);
  assert.equal(windowAt(parseWindow('100m', 'UTC'), now).segmentMs, 60_000);
  assert.equal(windowAt(parseWindow('5h', 'UTC'), now).segmentMs, 3 * 60_000);
});

test('nextReset: the calendar window end, null for rolling', () => {
  const now = at('2026-11-28T13:45:00Z');
  assert.equal(nextReset(parseWindow('day', 'America/New_York'), now), at('2026-11-29T05:00:00Z'));
  assert.equal(nextReset(parseWindow('month', 'UTC'), now), at('2026-12-01T00:00:00Z'));
  assert.equal(nextReset(parseWindow('24h', 'UTC'), now), null);
});

test('windowAt is pure: same input, same answer, and instances are frozen', () => {
  const spec = parseWindow('day', 'Europe/Berlin');
  const a = windowAt(spec, at('2026-03-29T12:00:00Z'));
  windowAt(spec, at('2026-10-25T12:00:00Z'));
  assert.deepEqual(windowAt(spec, at('2026-03-29T12:00:00Z')), a);
  assert.ok(Object.isFrozen(a));
  assert.throws(() => windowAt(spec, Number.NaN), RangeError);
});

test('zoneOffsetMs follows DST', () => {
  assert.equal(zoneOffsetMs('UTC', Date.UTC(2026, 0, 1)), 0);
  assert.equal(zoneOffsetMs('Europe/Berlin', Date.UTC(2026, 0, 15)), H);
  assert.equal(zoneOffsetMs('Europe/Berlin', Date.UTC(2026, 6, 15)), 2 * H);
  assert.equal(zoneOffsetMs('Asia/Kolkata', Date.UTC(2026, 6, 15)), 5.5 * H);
});
