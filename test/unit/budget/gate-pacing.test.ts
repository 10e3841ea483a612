/** The gate applies pacing: reject with retry-after, delay mode within max_delay_ms (on a ManualClock), and low priority throttled first. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetGate, type GateRequest } from '../../../src/budget/gate.ts';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { systemClock } from '../../../src/lib/clock.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { budget } from '../../helpers/budget-config.ts';
import { listBiller } from '../../../src/pricing/billing.ts';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });

const req = (id: string, priority: 'low' | 'normal' = 'normal'): GateRequest => ({
  id,
  keyId: 'k',
  tag: '',
  model: 'claude-haiku-4-5',
  path: '/v1/messages',
  upstream: 'default',
  biller: listBiller(pricer),
  bytes: 400,
  maxTokens: 100,
  betas: [],
  priority,
});

function gateWith(mode: 'reject' | 'delay', ratePerMs: number) {
  const clock = new ManualClock(Date.UTC(2026, 10, 2, 12));
  const b = budget({ name: 'paced', limit_usd: 100, action: 'throttle', throttle: { mode, max_delay_ms: 400, burst_s: 1 } });
  const store = new MemoryBudgetStore();
  const refusals: string[] = [];
  const throttled: string[] = [];
  const gate = new BudgetGate({
    catalog: new BudgetCatalog([b], () => pricer),
    ledger: store,
    buckets: store,
    pacing: { rate: () => ratePerMs, offenderRate: () => null },
    pricer: () => pricer,
    clock,
    logger: silentLogger,
    events: { onRefused: (_b, cause) => refusals.push(cause), onThrottled: (_b, _p, outcome) => throttled.push(outcome) },
  });
  return { gate, clock, refusals, throttled };
}

/** Lets `p` run at this instant; then, if it armed a timer, moves time to it. Returns the answer and how long it was held. */
async function held<T>(clock: ManualClock, p: Promise<T>): Promise<{ answer: T; heldMs: number }> {
  await clock.advance(0);
  const t0 = clock.now();
  const at = clock.nextAt();
  if (at !== null) await clock.advanceTo(at);
  return { answer: await p, heldMs: clock.now() - t0 };
}

test('reject mode: once the burst is used, 429 "is paced" with retry-after from the bucket', async () => {
  // The expected cost of one request: ~160 prompt tokens × $1 + 100 output × $5 per MTok ≈ 660,000,000 pico.
  const { gate, refusals, throttled } = gateWith('reject', 1); // 1 pico/ms: ~7 days to accrue one request
  const first = await gate.admit(req('a'));
  assert.equal(first.kind, 'admitted', 'a new bucket starts full (burst allowance)');
  const second = await gate.admit(req('b'));
  assert.equal(second.kind, 'refused');
  if (second.kind !== 'refused') return;
  assert.match(second.refusal.message, /budget 'paced' \(day\) is paced: spend is projected past \$100\.00 before .*; retry in \d+s/);
  assert.ok(second.refusal.retryAfterS > 60);
  assert.equal(second.refusal.shouldRetry, false);
  assert.deepEqual(refusals, ['paced'], 'one refusal counted, by cause paced');
  assert.deepEqual(throttled, ['refused']);
});

test('delay mode: a short wait is absorbed before forwarding; a long one is still a 429', async () => {
  const cost = gateWith('delay', 1).gate.expected(req('x')).money?.pico ?? 0;
  const { gate, clock, refusals: none, throttled: delayed } = gateWith('delay', cost / 200); // one request accrues every 200 ms; burst_s 1 holds 5
  for (let i = 0; i < 5; i++) assert.equal((await gate.admit(req(`burst${i}`))).kind, 'admitted');
  const b = await held(clock, gate.admit(req('b')));
  assert.equal(b.answer.kind, 'admitted', 'held, then admitted');
  const waited = b.heldMs;
  assert.ok(waited >= 150 && waited < 400, `waited ${waited} ms`);
  assert.deepEqual([none, delayed], [[], ['delayed']], 'a delayed admission is no refusal');
  const slow = gateWith('delay', cost / 5_000); // 5 s per request: above max_delay_ms 400; the bucket holds 1
  assert.equal((await slow.gate.admit(req('c'))).kind, 'admitted');
  const d = await held(slow.clock, slow.gate.admit(req('d')));
  assert.equal(d.answer.kind, 'refused');
  assert.ok(d.heldMs < 100, 'no pointless wait when the delay would exceed max_delay_ms');
  assert.deepEqual(slow.refusals, ['paced']);
});

test('x-meter-priority: low is throttled first: it must leave half the bucket for normal traffic', async () => {
  const cost = gateWith('reject', 1).gate.expected(req('x')).money?.pico ?? 0;
  // burst_s 1 at cost/250 per ms: the bucket holds 4 requests' worth.
  const { gate } = gateWith('reject', cost / 250);
  assert.equal((await gate.admit(req('l1', 'low'))).kind, 'admitted');
  assert.equal((await gate.admit(req('l2', 'low'))).kind, 'admitted');
  assert.equal((await gate.admit(req('l3', 'low'))).kind, 'refused', 'low priority stops at half the bucket');
  assert.equal((await gate.admit(req('n1'))).kind, 'admitted', 'normal priority still gets the rest');
});

test('delay mode waits on the injected clock, for the time the bucket needs', async () => {
  const cost = gateWith('delay', 1).gate.expected(req('x')).money?.pico ?? 0;
  const clock = new ManualClock(Date.UTC(2026, 10, 2, 12));
  const b = budget({ name: 'paced', limit_usd: 100, action: 'throttle', throttle: { mode: 'delay', max_delay_ms: 400, burst_s: 1 } });
  const store = new MemoryBudgetStore();
  const gate = new BudgetGate({
    catalog: new BudgetCatalog([b], () => pricer),
    ledger: store,
    buckets: store,
    pacing: { rate: () => cost / 200, offenderRate: () => null },
    pricer: () => pricer,
    clock,
    logger: silentLogger,
  });
  for (let i = 0; i < 5; i++) assert.equal((await gate.admit(req(`burst${i}`))).kind, 'admitted');
  assert.equal(clock.pending, 0, 'the burst waited for nothing');
  const admission = gate.admit(req('held'));
  await clock.advance(0);
  const waits = [clock.nextAt()! - clock.now()];
  assert.equal(clock.pending, 1);
  await clock.advanceTo(clock.nextAt()!);
  assert.equal((await admission).kind, 'admitted');
  assert.equal(waits.length, 1);
  assert.ok(waits[0]! > 0 && waits[0]! <= 200, `waited ${waits[0]} ms of simulated time`);
});

test('a paced refusal says so in its kind; a refusal by the limit says limit', async () => {
  const { gate } = gateWith('reject', 1);
  await gate.admit(req('a'));
  const paced = await gate.admit(req('b'));
  assert.ok(paced.kind === 'refused' && paced.refusal.kind === 'paced');
  const b = budget({ name: 'tiny', limit_usd: 0.000001 });
  const store = new MemoryBudgetStore();
  const capped = new BudgetGate({
    catalog: new BudgetCatalog([b], () => pricer),
    ledger: store,
    buckets: store,
    pricer: () => pricer,
    clock: systemClock,
    logger: silentLogger,
  });
  const refused = await capped.admit(req('c'));
  assert.ok(refused.kind === 'refused' && refused.refusal.kind === 'limit');
});
