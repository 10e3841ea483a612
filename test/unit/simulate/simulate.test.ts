/**
 * `claude-meter simulate` end to end on a 3-day hourly fixture (test/fixtures/simulate): demand is
 * 20 requests/h at night and 100/h from 08:00 to 20:00, 1,000 in / 200 out tokens each, billed
 * as claude-sonnet-4-6: $0.006 per request, $8.64 per day, against $4.32 budgets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimulateCommand } from '../../../src/commands/simulate.ts';
import type { InstanceResult } from '../../../src/simulate/types.ts';

const FIX = 'test/fixtures/simulate';
const SERIES = `${FIX}/hourly-3days.csv`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const dir = mkdtempSync(join(tmpdir(), 'cm-simulate-'));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c: Buffer, _e, cb) => (f(String(c)), cb()) });
  const code = await runSimulateCommand(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) }, {});
  return { code, out, err };
}

async function simulateJson(config: string, svg: string): Promise<{ instances: InstanceResult[]; requests: number; svg: string }> {
  const r = await cli(['--series', SERIES, '--model', 'fixture/chat', '--config', `${FIX}/${config}`, '--svg', join(dir, svg), '--json']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as { instances: InstanceResult[]; requests: number; svg: string };
}

test('a reject budget at half the demand is exhausted at 13:35 each day and refuses the other half', async () => {
  const res = await simulateJson('reject.config.yaml', 'reject.svg');
  assert.equal(res.requests, 3 * 1440);
  const inst = res.instances[0];
  assert.ok(inst && inst.budget === 'chat-daily-reject');
  assert.equal(inst.windows.length, 3);
  for (const [d, w] of inst.windows.entries()) {
    // 160 night requests + 560 from 08:00 = 720 × $0.006 = $4.32: the 720th lands at 13:35:42.
    assert.equal(w.exhaustedAt, d * DAY + 13 * HOUR + 35 * 60_000 + 42_000, `day ${d}`);
    assert.equal(w.admitted, 720);
    assert.equal(w.refused, 720);
    assert.equal(w.throttled, 0);
    assert.ok(Math.abs(w.spent - 4.32) < 1e-9 && Math.abs((w.demand ?? Number.NaN) - 8.64) < 1e-9);
  }
  const refusedHours = inst.hours.filter((h) => h.refused > 0).map((h) => (h.t % DAY) / HOUR);
  assert.equal(Math.min(...refusedHours), 13, 'nothing is refused before the budget runs out');
});

test('a throttle budget at half the demand paces spend over the day: 90–100% spent, throttling from morning to afternoon', async () => {
  const res = await simulateJson('throttle.config.yaml', 'throttle.svg');
  const inst = res.instances[0];
  assert.ok(inst && inst.budget === 'chat-daily-throttle');
  for (const [d, w] of inst.windows.entries()) {
    const share = w.spent / w.limit;
    assert.ok(share >= 0.9 && share <= 1, `day ${d}: spent ${(100 * share).toFixed(1)}% of the limit`);
    assert.ok(w.throttled > 500, `day ${d}: ${w.throttled} throttled`);
    assert.equal(w.refused, 0, 'pacing keeps the limit from being hit');
    const hours = inst.hours.filter((h) => h.t >= d * DAY && h.t < (d + 1) * DAY && h.throttled > 0).map((h) => (h.t % DAY) / HOUR);
    assert.ok(hours.length >= 6, `day ${d}: throttled in ${hours.length} hours`);
    assert.ok(Math.min(...hours) <= 10 && Math.max(...hours) >= 15, `day ${d}: throttled hours ${hours.join(',')}`);
    // Spread, not a wall: no throttled hour refuses everything.
    for (const h of inst.hours.filter((x) => x.t >= d * DAY && x.t < (d + 1) * DAY && x.throttled > 0)) assert.ok(h.admitted > 0);
  }
  // The chart samples spend hourly, with a forecast band once the forecaster has run.
  assert.ok(inst.samples.length >= 3 * 24);
  assert.ok(inst.samples.some((s) => s.p50 !== null && s.p10 !== null && s.p90 !== null && s.p10 <= s.p50 && s.p50 <= s.p90));
});

/** Well-formed enough for any SVG viewer: balanced tags, escaped text. */
function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith('<svg '), 'starts with <svg');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>|<|&(?!(?:amp|lt|gt|quot|#\d+);)/g)) {
    const [all, close, name, , self] = m;
    assert.ok(name !== undefined, `stray '${all}' at ${m.index}: ${svg.slice(m.index, m.index + 60)}`);
    if (self === '/') continue;
    if (close === '/') assert.equal(stack.pop(), name, `unbalanced </${name}> at ${m.index}`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], 'every tag closed');
}

test('the SVG is well-formed and draws spend, limit, forecast and the budget name', async () => {
  const r = await cli([
    '--series',
    SERIES,
    '--model',
    'fixture/chat',
    '--config',
    `${FIX}/reject.config.yaml`,
    '--svg',
    join(dir, 'table.svg'),
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /budget 'chat-daily-reject' \(global, day window, reject, limit \$4\.32\)/);
  assert.match(r.out, /day 0 +\$4\.32 +\$8\.64 +\$4\.32 +100% +day 0 13:35 +720 +0 +720/);
  assert.match(r.out, /chart: .*table\.svg/);
  const svg = readFileSync(join(dir, 'table.svg'), 'utf8');
  assertWellFormed(svg);
  assert.match(svg, /chat-daily-reject/);
  assert.ok((svg.match(/<polyline /g) ?? []).length >= 6, 'spend and p50 lines per window');
  assert.match(svg, /<polygon /, 'forecast band');
  assert.match(svg, /stroke-dasharray="8 5"/, 'dashed limit');
  assert.match(svg, /<path d="M /, 'exhaustion marks');
});

test('a budget in yuan: unit and currency say so, demand is converted at the configured rate, the table and chart print ¥', async () => {
  const res = await simulateJson('yuan.config.yaml', 'yuan.svg');
  const inst = res.instances[0];
  assert.ok(inst && inst.budget === 'chat-daily-yuan');
  assert.deepEqual([inst.unit, inst.currency, inst.limit], ['cny', 'CNY', 100]);
  for (const w of inst.windows) {
    assert.ok(Math.abs((w.demand ?? Number.NaN) - 8.64 * 7.1) < 1e-9, `demand ${w.demand} is yuan`);
    assert.deepEqual([w.limit, w.admitted, w.refused], [100, 1440, 0]);
  }
  const svg = readFileSync(join(dir, 'yuan.svg'), 'utf8');
  assertWellFormed(svg);
  assert.match(svg, /CNY spent in window/);
  assert.match(svg, /limit ¥100/);
  assert.doesNotMatch(svg, /\$/, 'no dollar sign on a yuan chart');
  const r = await cli([
    '--series',
    SERIES,
    '--model',
    'fixture/chat',
    '--config',
    `${FIX}/yuan.config.yaml`,
    '--svg',
    join(dir, 'yuan2.svg'),
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /budget 'chat-daily-yuan' \(global, day window, reject, limit ¥100\.00\)/);
  assert.match(r.out, /day 0 +¥100\.00 +¥61\.34 +¥\d/);
  assert.doesNotMatch(r.out.slice(r.out.indexOf("budget 'chat-daily-yuan'")), /\$/);
});

test('bad flags and files exit 2 with a message', async () => {
  const cases: [string[], RegExp][] = [
    [['--config', `${FIX}/reject.config.yaml`], /--series FILE is required/],
    [['--series', SERIES], /--config FILE is required/],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--bogus', '1'], /unknown flag '--bogus'/],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--scale', '0'], /--scale must be a number in \(0, 1\]/],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--days', '1.5'], /--days must be a whole number/],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--speed', 'fast'], /--speed must be/],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--svg'], /--svg needs a value/],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, 'extra'], /unexpected argument 'extra'/],
    [['--series', `${FIX}/missing.csv`, '--config', `${FIX}/reject.config.yaml`], /cannot read --series/],
    [['--series', SERIES, '--config', `${FIX}/missing.yaml`], /file not found/],
    [
      ['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--model', 'nope'],
      /no requests with model 'nope' \(models: fixture\/chat, fixture\/other\)/,
    ],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--model-as', 'gpt-4'], /--model-as 'gpt-4' is not in the price table/],
    [['--series', SERIES, '--config', `${FIX}/reject.config.yaml`, '--from', '9'], /past the series' last day/],
  ];
  for (const [args, msg] of cases) {
    const svg = join(dir, 'bad.svg');
    const r = await cli([...args, ...(args.includes('--svg') ? [] : ['--svg', svg])]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg);
    assert.equal(r.out, '');
    assert.ok(!existsSync(svg), 'nothing written on a bad invocation');
  }
});

test('a relay billing in yuan as the default upstream: demand is what it bills, its name matches, and the yuan cap holds', async () => {
  const res = await simulateJson('relay-yuan.config.yaml', 'relay-yuan.svg');
  const inst = res.instances[0];
  assert.ok(inst && inst.budget === 'relay-daily-yuan', 'match.upstream names the default upstream by its configured name');
  for (const w of inst.windows) {
    assert.ok(Math.abs((w.demand ?? Number.NaN) - 8.64 * 7.3) < 1e-9, `demand ${w.demand} is what the relay bills`);
    assert.ok(w.refused > 0, 'a ¥50 cap on ¥63 of daily demand refuses');
  }
});

/** The throttle fixture with its throttle settings replaced. */
function throttleConfig(name: string, mode: 'reject' | 'delay', maxDelayMs = 10_000): string {
  const file = join(dir, name);
  const text = readFileSync(`${FIX}/throttle.config.yaml`, 'utf8').replace(
    /mode: delay[^\n]*/,
    `mode: ${mode}\n      max_delay_ms: ${maxDelayMs}`,
  );
  writeFileSync(file, text);
  return file;
}

test('delay mode (issue #21, part 5): the gate holds paced requests on the simulated clock up to max_delay_ms and lets them through', async () => {
  const run = async (config: string) => {
    const r = await cli(['--series', SERIES, '--model', 'fixture/chat', '--config', config, '--svg', join(dir, 'delay.svg'), '--json']);
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out) as { requests: number; admitted: number; throttled: number; instances: InstanceResult[] };
    assert.equal(res.admitted + res.throttled, res.requests, 'every request admitted or throttled, held ones included');
    return { ...res, inst: res.instances[0]! };
  };
  const reject = await run(throttleConfig('reject-mode.yaml', 'reject'));
  const delay = await run(throttleConfig('delay-mode.yaml', 'delay'));
  const short = await run(throttleConfig('delay-1ms.yaml', 'delay', 1));
  const sum = (r: typeof reject, k: 'delayed' | 'throttled') => r.inst.windows.reduce((a, w) => a + w[k], 0);
  assert.equal(sum(reject, 'delayed'), 0, 'reject mode holds nothing');
  assert.ok(sum(delay, 'delayed') > 100, `delay mode holds requests: ${sum(delay, 'delayed')}`);
  for (const w of delay.inst.windows) {
    // Held on the simulated clock, then admitted: each for a while, none past max_delay_ms (10 s).
    assert.ok(w.delayedMs > 0 && w.delayedMs <= w.delayed * 10_000, `${w.delayed} held ${w.delayedMs} ms in all`);
    assert.ok(w.delayed <= w.admitted);
  }
  // The bucket admits the same spend either way: what delay changes is who waits and who is refused.
  assert.ok(sum(delay, 'throttled') <= sum(reject, 'throttled'));
  assert.equal(sum(short, 'delayed'), 0, 'a wait past max_delay_ms is refused, not held (the pacer rounds a wait to whole ms)');
  for (const w of delay.inst.windows) assert.ok(w.spent <= w.limit + 1e-9 && w.refused === 0, 'holding never breaks the cap');
});

test('outcomes (issue #21, part 5): share of the limit used, time held back while the budget had room, windows that ran out early', async () => {
  const reject = (await simulateJson('reject.config.yaml', 'o-reject.svg')).instances[0]!;
  // The cap alone: everything used, nothing held back, and each day out at 13:35, 10 h 24 min early.
  for (const w of reject.windows) {
    assert.deepEqual([w.used, w.heldBackMs, w.ranOutEarly, w.delayed], [1, 0, true, 0]);
    assert.equal(w.end - (w.exhaustedAt ?? 0), 10 * HOUR + 24 * 60_000 + 18_000);
  }
  assert.deepEqual(reject.outcomes, { windows: 3, used: 1, heldBackMs: 0, ranOutEarly: 3 });
  const paced = (await simulateJson('throttle.config.yaml', 'o-throttle.svg')).instances[0]!;
  for (const w of paced.windows) {
    assert.ok(w.used !== null && w.used >= 0.9 && w.used <= 1 && !w.ranOutEarly, `used ${w.used}, not out early`);
    // Pacing refuses or holds from the morning on while money is left: hours of it, a whole minute at a time.
    assert.ok(w.heldBackMs >= 6 * HOUR && w.heldBackMs < DAY && w.heldBackMs % 60_000 === 0, `held back ${w.heldBackMs / HOUR} h`);
  }
  assert.equal(paced.outcomes.ranOutEarly, 0);
  assert.equal(
    paced.outcomes.heldBackMs,
    paced.windows.reduce((a, w) => a + w.heldBackMs, 0),
  );
  const r = await cli([
    '--series',
    SERIES,
    '--model',
    'fixture/chat',
    '--config',
    `${FIX}/reject.config.yaml`,
    '--svg',
    join(dir, 'o.svg'),
  ]);
  assert.match(r.out, /day 0 .* 720 +0 +720 +0 +— +by 10 h 24 min\n/);
  assert.match(
    r.out,
    /outcomes: 100% of the limit used \(mean of 3 windows\); held back while it had room: never; ran out early: 3 of 3 windows/,
  );
});
