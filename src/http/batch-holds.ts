/**
 * A batch's budget hold (docs/batches.md): made when the batch is created (its requests
 * estimated at batch prices), kept in the batch store so that any proxy can release it, and
 * ended exactly once: released when the batch's results have been read whole (their lines
 * counted their own spend), or, when no results were seen by the time the batch expired, turned
 * into spend at its estimate and recorded as such, never a silent $0.
 */
import type { Admission, BudgetGate } from '../budget/gate.ts';
import type { SettleQueue } from '../budget/settle-queue.ts';
import type { Amount, BudgetConfig, Cost, InstanceRef } from '../budget/types.ts';
import { HOUR_MS, MINUTE_MS } from '../core/time.ts';
import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { BatchOrigin, BatchStore } from '../store/batch-store.ts';

/** Message Batches process for at most 24 hours (a batch's `expires_at`). */
export const BATCH_LIFE_MS = 24 * HOUR_MS;
/** The hold outlives the batch by a margin for clocks and late ends, so the sweeper sees it expire first. */
export const BATCH_HOLD_TTL_MS = BATCH_LIFE_MS + 15 * MINUTE_MS;

/** A hold as the batch store keeps it: plain data any proxy can settle with. */
export interface BatchHold {
  /** The reservation's id in the ledger. */
  id: string;
  refs: InstanceRef[];
  /** Budget names, one per ref (a budget removed since is skipped). */
  budgets: string[];
  /** What each ref holds, in its currency. */
  amounts: Amount[];
  /** The whole estimate as billed. */
  expected: Cost;
  /** The batch's requests, as its create body said (absent in holds stored before it was kept). */
  requests?: number;
}

/** The hold an admitted batch create made of `requests` requests, or null when no budget applied. */
export function holdOf(id: string, a: Admission, requests: number): BatchHold | null {
  if (a.kind !== 'admitted') return null;
  return { id, refs: a.refs, budgets: a.budgets.map((b) => b.name), amounts: a.amounts, expected: a.expected, requests };
}

/** One request's share of the hold (a line billed but unreadable): what each ref held, divided by the batch's requests. */
export function chargeShare(b: { gate: BudgetGate; settles: SettleQueue }, hold: BatchHold, id: string): void {
  const l = live(b.gate, hold);
  if (l.refs.length === 0) return;
  const n = Math.max(1, hold.requests ?? 1);
  const counted = l.amounts.map((a) => ({ pico: Math.floor(a.pico / n), tokens: Math.floor(a.tokens / n) }));
  b.settles.push({ refs: l.refs, budgets: l.budgets, id, actual: { money: null, tokens: 0 }, counted });
}

/**
 * What a batch created without a budget holds: nothing, but it is remembered like a hold, so the
 * sweeper records the batch if its results are never seen and the poller finds it.
 */
export function emptyHold(id: string): BatchHold {
  return { id, refs: [], budgets: [], amounts: [], expected: { money: null, tokens: 0 } };
}

/** A stored hold's refs and their budgets as configured now; refs of removed budgets are left out. */
function live(gate: BudgetGate, hold: BatchHold): { refs: InstanceRef[]; budgets: BudgetConfig[]; amounts: Amount[] } {
  const refs: InstanceRef[] = [];
  const budgets: BudgetConfig[] = [];
  const amounts: Amount[] = [];
  hold.refs.forEach((ref, i) => {
    const b = gate.catalog.find(hold.budgets[i] ?? '');
    const a = hold.amounts[i];
    if (b === undefined || a === undefined) return;
    refs.push(ref);
    budgets.push(b);
    amounts.push(a);
  });
  return { refs, budgets, amounts };
}

/** The results were read whole: their lines counted their own spend, so the hold goes. */
export function releaseHold(b: { gate: BudgetGate; settles: SettleQueue }, hold: BatchHold): void {
  const l = live(b.gate, hold);
  if (l.refs.length === 0) return;
  b.settles.push({ ...l, id: hold.id, actual: { money: null, tokens: 0 }, counted: l.amounts.map(() => ({ pico: 0, tokens: 0 })) });
}

/** A create the upstream refused, or whose batch could not be remembered: nothing will come of it. */
export function discardHold(b: { gate: BudgetGate; settles: SettleQueue }, hold: BatchHold): void {
  const l = live(b.gate, hold);
  if (l.refs.length === 0) return;
  b.settles.push({ ...l, id: hold.id, actual: { money: null, tokens: 0 }, discard: true });
}

/**
 * No download was read whole before the batch expired: the hold becomes spend at its estimate,
 * on each ref what it held, less the share its lines already counted (`counted`, of the
 * estimate's money: a download cut mid-way counted those lines itself).
 */
export function spendHold(b: { gate: BudgetGate; settles: SettleQueue }, hold: BatchHold, counted = 0): void {
  const l = live(b.gate, hold);
  if (l.refs.length === 0) return;
  const expected = hold.expected.money?.pico ?? 0;
  const rest = expected > 0 ? Math.max(0, 1 - counted / expected) : 1;
  const amounts = l.amounts.map((a) => ({ pico: Math.floor(a.pico * rest), tokens: Math.floor(a.tokens * rest) }));
  b.settles.push({ ...l, id: hold.id, actual: hold.expected, counted: amounts });
}

/** The id a hold is kept under when its create's answer was never read (http/batches.ts): no upstream batch has it. */
export const UNSEEN_PREFIX = 'unseen_';

/** How often a proxy looks for holds of batches that expired unseen; each is taken by one proxy only (BatchStore.settleHold). */
export const SWEEP_EVERY_MS = MINUTE_MS;
/** Holds turned into spend per sweep, at most: a backlog drains over a few minutes instead of one burst. */
const SWEEP_LIMIT = 100;

/**
 * Turns the holds of batches that expired with no results read into spend at their estimate,
 * and records each as `batch_results_unseen` (never a silent $0). Runs on every proxy; the
 * batch store lets one take each hold.
 */
export class HoldSweeper {
  readonly #deps: SweepDeps;
  #timer: TimerHandle | null = null;
  #running: Promise<number> | null = null;

  constructor(deps: SweepDeps) {
    this.#deps = deps;
  }

  start(): void {
    const tick = (): void => {
      void this.sweep();
      this.#timer = this.#deps.clock.setTimeout(tick, SWEEP_EVERY_MS).unref();
    };
    this.#timer = this.#deps.clock.setTimeout(tick, SWEEP_EVERY_MS).unref();
  }

  /** Stops the timer; resolves when a sweep under way has pushed its settles. */
  stop(): Promise<void> {
    if (this.#timer !== null) this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = null;
    return this.#running?.then(() => undefined) ?? Promise.resolve();
  }

  /** One sweep; resolves to the holds it turned into spend. One at a time. */
  sweep(): Promise<number> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #sweep(): Promise<number> {
    const d = this.#deps;
    const now = d.clock.now();
    let due: Awaited<ReturnType<BatchStore['dueHolds']>>;
    try {
      due = await d.store.dueHolds(now, SWEEP_LIMIT);
    } catch (err) {
      d.logger.warn({ err }, 'batch store unreachable: expired batch holds are swept later');
      return 0;
    }
    let n = 0;
    for (const { batchId, origin } of due) {
      try {
        if (!(await d.store.settleHold(batchId, now))) continue;
      } catch (err) {
        d.logger.warn({ err, batch: batchId }, 'batch store unreachable: expired batch holds are swept later');
        return n;
      }
      const hold = origin.hold as BatchHold | null;
      if (hold === null) continue;
      n++;
      const budgets = d.budgets();
      const counted = budgets === null ? 0 : ((await d.store.info(batchId, now).catch(() => null))?.counted ?? 0);
      if (budgets !== null) spendHold(budgets, hold, counted);
      d.record(batchId, origin);
      d.logger.warn(
        { batch: batchId, key_id: origin.keyId, tag: origin.tag, expected: hold.expected },
        'batch expired with no results read through the proxy: its budget hold counts as spend at its estimate',
      );
    }
    return n;
  }
}

export interface SweepDeps {
  store: BatchStore;
  clock: Timers;
  logger: Logger;
  /** The live gate and settle queue (a reload may add or remove budgets); null: none. */
  budgets(): { gate: BudgetGate; settles: SettleQueue } | null;
  /** Records the expired batch as `batch_results_unseen`. */
  record(batchId: string, origin: BatchOrigin): void;
}
