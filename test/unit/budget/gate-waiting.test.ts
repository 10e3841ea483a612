/**
 * Waiting for in-flight reservations instead of refusing: FIFO per instance with no overtaking,
 * the queue bound, the wait bound, a client that leaves, and refusals that say why. On a
 * ManualClock: nothing waits in real time, and "not yet" means not until the clock moves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetGate, type Admission, type GateRequest, type WaitOutcome } from '../../../src/budget/gate.ts';
import { BudgetCatalog } from '../../../src/budget/catalog.ts';
import { MemoryBudgetStore } from '../../../src/budget/store/memory-budget-store.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { silentLogger } from '../../../src/lib/logger.ts';
import { ManualClock } from '../../../src/lib/manual-clock.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import type { BudgetConfig } from '../../../src/budget/types.ts';
import { budget } from '../../helpers/budget-config.ts';
import { listBiller } from '../../../src/pricing/billing.ts';

const pricer = buildPricer({ source: null, pricing: DEFAULTS.pricing });
const req = (id: string, maxTokens = 100, leaving?: () => AbortSignal): GateRequest => ({
  id,
  keyId: 'k',
  tag: '',
  model: 'claude-haiku-4-5',
  path: '/v1/messages',
  upstream: 'default',
  biller: listBiller(pricer),
  bytes: 400,
  maxTokens,
  betas: [],
  ...(leaving ? { leaving } : {}),
});

/** `p` once the clock has let everything pending run; fails if it is still waiting. */
async function atOnce<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let done = false;
  void p.then(() => (done = true));
  await clock.advance(0);
  assert.ok(done, 'answered without waiting');
  return p;
}

function setup(limitOf: (small: number) => number, admission: Partial<BudgetConfig['admission']> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 2, 12));
  const probe = new BudgetGate({
    catalog: new BudgetCatalog([], () => pricer),
    ledger: new MemoryBudgetStore(),
    buckets: new MemoryBudgetStore(),
    pricer: () => pricer,
    clock,
    logger: silentLogger,
  });
  const small = probe.expected(req('probe')).money?.pico ?? 0;
  const b = budget({ name: 'cap', limit_usd: limitOf(small) / 1e12, admission: { max_wait_ms: 2_000, max_queue: 16, ...admission } });
  const store = new MemoryBudgetStore();
  const depth: number[] = [];
  const waited: WaitOutcome[] = [];
  const waitedS: number[] = [];
  const refusals: string[] = [];
  const gate = new BudgetGate({
    catalog: new BudgetCatalog([b], () => pricer),
    ledger: store,
    buckets: store,
    pricer: () => pricer,
    clock,
    logger: silentLogger,
    events: {
      onQueueDepth: (_b, d) => depth.push(d),
      onWaited: (_b, o, s) => (waited.push(o), waitedS.push(s)),
      onRefused: (_b, c) => refusals.push(c),
    },
  });
  const settle = async (a: Admission, id: string, pico: number): Promise<void> => {
    assert.equal(a.kind, 'admitted');
    if (a.kind === 'admitted') await gate.settle(a, id, { money: { currency: 'USD', pico }, tokens: 10 });
  };
  return { clock, gate, small, depth, waited, waitedS, refusals, settle };
}

test('a discard (the upstream refused the request in flight) frees its room: the waiting request is admitted at once', async () => {
  const { clock, gate } = setup((s) => Math.round(1.5 * s));
  const first = await gate.admit(req('a'));
  assert.equal(first.kind, 'admitted');
  let answered = false;
  const second = gate.admit(req('b')).then((a) => ((answered = true), a));
  await clock.advance(50);
  assert.equal(answered, false);
  if (first.kind === 'admitted') await gate.discard(first, 'a');
  assert.equal((await atOnce(clock, second)).kind, 'admitted');
  await gate.close();
});

test('blocked only by in-flight reservations, a request waits and is admitted when a settle frees room', async () => {
  const { clock, gate, small, settle, waited, waitedS, depth } = setup((s) => Math.round(1.5 * s));
  const first = await gate.admit(req('a'));
  let answered = false;
  const second = gate.admit(req('b')).then((a) => ((answered = true), a));
  await clock.advance(50);
  assert.equal(answered, false, 'it waits for the settle');
  await settle(first, 'a', Math.round(small / 3));
  assert.equal((await second).kind, 'admitted');
  assert.deepEqual(waitedS, [0.05], 'it waited for the settle, and no longer');
  assert.deepEqual(waited, ['admitted']);
  assert.deepEqual(depth, [1, 0]);
  await gate.close();
});

test('FIFO without overtaking: a small newcomer that would fit queues behind a large waiter', async () => {
  const { clock, gate, small, settle } = setup((s) => Math.round(5 * s));
  const large = req('large', 500); // about 4 small ones: fits the cap, not beside the one held
  const held = await gate.admit(req('held'));
  const order: string[] = [];
  const big = gate.admit(large).then((a) => (order.push(`large:${a.kind}`), a));
  await clock.advance(10);
  const little = gate.admit(req('little')).then((a) => (order.push(`little:${a.kind}`), a));
  await clock.advance(30);
  assert.deepEqual(order, [], 'the small one fits the free room but must not pass the large one');
  await settle(held, 'held', Math.round(small / 4));
  const bigAdmission = await big;
  assert.equal(bigAdmission.kind, 'admitted');
  await settle(bigAdmission, 'large', small);
  assert.equal((await little).kind, 'admitted');
  assert.deepEqual(order, ['large:admitted', 'little:admitted']);
  await gate.close();
});

test('the queue is bounded, the wait is bounded, and both refusals say in_flight and that the request would fit', async () => {
  const { clock, gate, refusals, waited } = setup((s) => Math.round(1.5 * s), { max_wait_ms: 150, max_queue: 1 });
  await gate.admit(req('a'));
  let answered = false;
  const waiting = gate.admit(req('b')).then((a) => ((answered = true), a));
  const full = await atOnce(clock, gate.admit(req('c')));
  assert.equal(full.kind, 'refused');
  if (full.kind === 'refused') {
    assert.match(full.refusal.message, /would fit without the reservations in flight, but the queue of requests waiting for them is full/);
    assert.equal(full.refusal.headers['x-meter-budget-refusal'], 'in_flight');
  }
  await clock.advance(149);
  assert.equal(answered, false, 'refused only after max_wait_ms');
  await clock.advance(1);
  const timedOut = await atOnce(clock, waiting);
  assert.equal(timedOut.kind, 'refused');
  if (timedOut.kind !== 'refused') return;
  assert.equal(timedOut.refusal.cause, 'in_flight');
  assert.equal(timedOut.refusal.retryAfterS, 2);
  assert.match(
    timedOut.refusal.message,
    /has no headroom: spent \$0\.0000 \+ \$0\.0006 in flight of \$0\.0010; this request \(about \$0\.0006\) would fit without the reservations in flight, and waited 150 ms for them to settle/,
  );
  assert.deepEqual(refusals, ['in_flight', 'in_flight']);
  assert.deepEqual(waited, ['refused']);
  await gate.close();
});

test('a request that does not fit even without reservations is refused at once, nearly_exhausted or exhausted', async () => {
  const { clock, gate, small, settle, refusals } = setup((s) => Math.round(1.5 * s));
  const a = await gate.admit(req('a'));
  await settle(a, 'a', small);
  const nearly = await atOnce(clock, gate.admit(req('b')));
  assert.equal(nearly.kind === 'refused' && nearly.refusal.cause, 'nearly_exhausted');
  const c = await gate.admit(req('c', 10));
  await settle(c, 'c', small);
  const gone = await gate.admit(req('d', 10));
  assert.equal(gone.kind === 'refused' && gone.refusal.headers['x-meter-budget-refusal'], 'exhausted');
  assert.deepEqual(refusals, ['nearly_exhausted', 'exhausted']);
  await gate.close();
});

test('max_wait_ms 0 refuses at once, as before waiting existed', async () => {
  const { gate, refusals } = setup((s) => Math.round(1.5 * s), { max_wait_ms: 0 });
  await gate.admit(req('a'));
  const b = await gate.admit(req('b'));
  assert.equal(b.kind === 'refused' && b.refusal.cause, 'in_flight');
  if (b.kind === 'refused') assert.doesNotMatch(b.refusal.message, /waited/);
  assert.deepEqual(refusals, ['in_flight']);
});

test('a client that leaves while waiting leaves the queue; the next waiter moves up', async () => {
  const { clock, gate, small, settle, depth, waited } = setup((s) => Math.round(1.5 * s));
  const first = await gate.admit(req('a'));
  const ac = new AbortController();
  const leaver = gate.admit(req('leaver', 100, () => ac.signal));
  const next = gate.admit(req('next'));
  await clock.advance(20);
  ac.abort();
  assert.equal((await atOnce(clock, leaver)).kind, 'left');
  await settle(first, 'a', Math.round(small / 3));
  assert.equal((await next).kind, 'admitted');
  assert.deepEqual(waited, ['left', 'admitted']);
  assert.equal(depth.at(-1), 0);
  await gate.close();
});

test('close() ends every wait at once with its 429', async () => {
  const { clock, gate, refusals } = setup((s) => Math.round(1.5 * s));
  await gate.admit(req('a'));
  const waiting = gate.admit(req('b'));
  await clock.advance(10);
  await gate.close();
  const b = await atOnce(clock, waiting);
  assert.equal(b.kind === 'refused' && b.refusal.cause, 'in_flight');
  assert.deepEqual(refusals, ['in_flight']);
});
