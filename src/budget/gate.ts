import type { Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { OutageLog } from '../lib/outage-log.ts';
import type { Biller, Pricer } from '../pricing/types.ts';
import type { Usage } from '../core/usage.ts';
import { emptyUsage } from '../core/usage.ts';
import { MINUTE_MS } from '../core/time.ts';
import { ExchangeRates } from '../core/currency.ts';
import type { Amount, BudgetConfig, BudgetLedger, Cost, InstanceRef, InstanceState, LeaseGrant, PaceBuckets, SettleFeed } from './types.ts';
import type { BudgetCatalog, BudgetMatch } from './catalog.ts';
import { amountIn, billedCost } from './cost.ts';
import { CostEstimator } from './estimate.ts';
import {
  admittedHeaders,
  crossedThresholds,
  overLimit,
  queuedRefusal,
  refusal,
  tightest,
  type Refusal,
  type RefusalCause,
} from './policy.ts';
import { Pacer, type PacingSource } from './pacing/pacer.ts';
import { WaitingRoom, type Attempt } from './waiting.ts';
import { LeaseKeeper } from './leases.ts';
import type { LeaseSettings } from './lease-book.ts';

/** What the gate needs to know about a request before it is forwarded. */
export interface GateRequest extends BudgetMatch {
  id: string;
  bytes: number;
  maxTokens: number | null;
  betas: readonly string[];
  /** `x-meter-priority: low` is paced first (it must leave a reserve in the pacing bucket). */
  priority?: 'low' | 'normal';
  /** An SDK retry (`x-stainless-retry-count` > 0): its demand was already counted once. */
  retry?: boolean;
  /** Aborts when the client leaves; asked for only when the request has to wait, so the fast path makes none. */
  leaving?: () => AbortSignal;
  /** Prices the estimate as the request's upstream bills it: its prices, in its currency. */
  biller: Biller;
}

export type Admission =
  | { kind: 'none' } // no budget applies
  /**
   * `expected`: the estimate as billed, settled in the actual cost's stead when its usage cannot be
   * read; `amounts`: what each ref reserved of it, in that ref's currency.
   */
  /** `leased`: admitted here from this proxy's leases, without a store round trip; settled into them. */
  | {
      kind: 'admitted';
      refs: InstanceRef[];
      budgets: BudgetConfig[];
      expected: Cost;
      amounts: Amount[];
      headers: Record<string, string>;
      leased: boolean;
    }
  | { kind: 'refused'; refusal: Refusal; budget: BudgetConfig }
  | { kind: 'left'; budget: BudgetConfig } // the client went away while waiting for reservations to settle
  /** `expected`: what the request would have reserved, as billed, settled in its stead when its usage cannot be read. */
  | { kind: 'store_error'; allow: boolean; refs: InstanceRef[]; budgets: BudgetConfig[]; error: unknown; expected: Cost };

/** Hooks for metrics and alerts, so the gate stays free of prom-client and HTTP. */
export interface GateEvents {
  onStates?(budgets: readonly BudgetConfig[], refs: readonly InstanceRef[], states: readonly InstanceState[]): void;
  /** A shadow budget that would have refused this admitted request. */
  onShadowRefused?(budget: BudgetConfig, ref: InstanceRef): void;
  onStoreError?(budget: BudgetConfig, allowed: boolean): void;
  /** A reservation settled: what the ref reserved and what it counted, both in the ref's currency. */
  onSettled?(budget: BudgetConfig, reserved: Amount, actual: Amount): void;
  /** A settle added `pico` (of the ref's currency) to this instance's spend (not on a duplicate settle). */
  onSpent?(budget: BudgetConfig, ref: InstanceRef, pico: number): void;
  onThreshold?(budget: BudgetConfig, ref: InstanceRef, threshold: number, state: InstanceState): void;
  onThrottled?(budget: BudgetConfig, priority: string, outcome: 'refused' | 'delayed'): void;
  /** Every refusal, paced ones included, by cause. */
  onRefused?(budget: BudgetConfig, cause: RefusalCause): void;
  /** A request that waited for in-flight reservations: how it ended and after how long. */
  onWaited?(budget: BudgetConfig, outcome: WaitOutcome, seconds: number): void;
  /** Requests waiting in this proxy on the instances of a budget. */
  onQueueDepth?(budget: string, depth: number): void;
  /** Instances a discard deleted (nothing was left in them): their series go. */
  onDropped?(budgets: readonly BudgetConfig[], refs: readonly InstanceRef[]): void;
}

export type WaitOutcome = 'admitted' | 'refused' | 'left' | 'store_error';

/** One request's admission, shared by its attempts while it waits. */
interface Pending {
  req: GateRequest;
  refs: InstanceRef[];
  budgets: BudgetConfig[];
  /** The estimate as billed, and what it is on each ref (in that ref's currency). */
  expected: Cost;
  amounts: Amount[];
  /** The latest in-flight refusal: its figures go into the 429 if the wait ends without admission. */
  last: { i: number; state: InstanceState } | null;
  attempts: number;
  /** A batch's hold: its estimate is not re-made while it waits, and it lives `ttlMs`. */
  batch?: { ttlMs: number };
}

/** Requests of a batch that share a model and max_tokens, as its create body says (api/anthropic/batch-scan.ts). */
export interface BatchItem {
  model: string | null;
  maxTokens: number | null;
  count: number;
  /** Their params' sizes added up. */
  bytes: number;
}

/** A Message Batches create call: its requests are estimated at batch prices and held as one reservation. */
export interface BatchGateRequest extends Omit<GateRequest, 'model' | 'bytes' | 'maxTokens' | 'retry' | 'priority'> {
  items: Iterable<BatchItem>;
  /** How long the hold lives: until the batch can no longer be processing (24 h), plus a margin. */
  ttlMs: number;
}

/** Two costs in one currency added; an unpriced one (no money) adds its tokens only, as it reserves no money. */
function addCost(a: Cost, b: Cost): Cost {
  const money = a.money === null ? b.money : b.money === null ? a.money : { currency: a.money.currency, pico: a.money.pico + b.money.pico };
  return { money, tokens: a.tokens + b.tokens };
}

/** No rates configured: every budget counts only what is billed in its own currency. */
const NO_RATES = new ExchangeRates();

/** Reservations older than this are presumed orphaned (a crashed proxy) and stop counting. */
export const DEFAULT_RESERVATION_TTL_MS = 15 * MINUTE_MS; // longer than any SDK request timeout (10 min)

/**
 * Admission and settlement for budgets. The atomicity lives in the ledger (one Lua script
 * per operation); this class decides how much to reserve for the instances the catalog
 * says a request touches, applies pacing, and turns ledger answers into decisions.
 */
export class BudgetGate {
  readonly catalog: BudgetCatalog;
  readonly ledger: BudgetLedger;
  readonly #pacer: Pacer | null;
  readonly #pricer: () => Pricer;
  readonly #rates: () => ExchangeRates;
  /** Currency pairs a conversion found no rate for, logged once each. */
  readonly #missingRates = new Set<string>();
  readonly #clock: Timers;
  readonly #logger: Logger;
  readonly #events: GateEvents;
  readonly #estimator: CostEstimator;
  readonly #ttlMs: number;
  readonly #feed: SettleFeed | null;
  readonly #room: WaitingRoom<Admission>;
  /** Store errors at admission, logged per outage rather than per request. */
  readonly #outage: OutageLog;
  /** Headers made from a lease's state, per state object (a sync makes a new one). */
  readonly #headers = new WeakMap<
    InstanceState,
    { budget: BudgetConfig; window: InstanceRef['window']; headers: Record<string, string> }
  >();
  /** Instance names by ref: the catalog hands out the same ref objects within a window. */
  readonly #keys = new WeakMap<InstanceRef, string>();
  /** Quota leasing (a shared ledger); null: every admission runs the ledger's per-request script. */
  readonly #leases: LeaseKeeper | null;
  #listening = false;

  constructor(opts: {
    catalog: BudgetCatalog;
    ledger: BudgetLedger;
    buckets: PaceBuckets;
    /** Pacing rates (the forecast service); without one nothing is paced. */
    pacing?: PacingSource;
    /** A getter: pricing can be reloaded with the config. */
    pricer: () => Pricer;
    /** Exchange rates, a getter (reloaded with the config): a cost billed in one currency counts on budgets in another. */
    rates?: () => ExchangeRates;
    /** Also what waiting (for reservations, for a paced bucket) waits on. */
    clock: Timers;
    logger: Logger;
    events?: GateEvents;
    estimator?: CostEstimator;
    reservationTtlMs?: number;
    /** Settles on other proxies (Redis); without one only this proxy's settles wake waiters. */
    feed?: SettleFeed;
    /** Admit from leased headroom while budgets have room (see lease-book.ts); off by default. */
    leases?: { holder?: string; settings?: Partial<LeaseSettings> } | null;
  }) {
    this.catalog = opts.catalog;
    this.ledger = opts.ledger;
    this.#pricer = opts.pricer;
    this.#rates = opts.rates ?? (() => NO_RATES);
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#events = opts.events ?? {};
    this.#estimator = opts.estimator ?? new CostEstimator();
    this.#ttlMs = opts.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.#feed = opts.feed ?? null;
    this.#outage = new OutageLog({
      logger: opts.logger,
      clock: opts.clock,
      level: 'error',
      messages: {
        down: 'budget store unreachable at admission: each budget follows its on_store_error',
        still: 'budget store still unreachable at admission',
        up: 'budget store reachable again at admission',
      },
    });
    const events = this.#events;
    this.#leases = opts.leases
      ? new LeaseKeeper({
          ledger: opts.ledger,
          clock: opts.clock,
          logger: opts.logger,
          keyOf: (ref) => this.#keyOf(ref),
          ...(opts.leases.holder ? { holder: opts.leases.holder } : {}),
          ...(opts.leases.settings ? { settings: opts.leases.settings } : {}),
          events: {
            onSynced: (budgets, refs, grants, spent) => this.#synced(budgets, refs, grants, spent),
            onReturned: (refs) => this.#released(refs),
          },
        })
      : null;
    this.#room = new WaitingRoom({ clock: opts.clock, onDepth: (label, depth) => events.onQueueDepth?.(label, depth) });
    this.#pacer = opts.pacing
      ? new Pacer({
          buckets: opts.buckets,
          source: opts.pacing,
          clock: opts.clock,
          onThrottled: (budget, priority, outcome) => events.onThrottled?.(budget, priority, outcome),
          slices: Boolean(opts.leases),
        })
      : null;
  }

  /** False when no budget is configured: the pipeline then skips admission (and reading the request body) entirely. */
  get active(): boolean {
    return this.catalog.active;
  }

  /** Expected cost of a request for its reservation: the estimated usage as the request's upstream bills it, and tokens. */
  expected(req: GateRequest): Cost {
    // Canonical id, so the estimator's history matches what settle() observes (records carry canonical ids).
    const model = req.model === null ? null : (this.#pricer().resolve(req.model) ?? req.model);
    const est = this.#estimator.estimate(model, req.keyId, req.bytes, req.maxTokens);
    const usage: Usage = { ...emptyUsage(), input: est.promptTokens, output: est.outputTokens };
    const bill = req.biller.bill(req.model, usage, { at: this.#clock.now(), betas: req.betas });
    // An unpriced bill reserves no money (its cost is unknown, and is reported as unpriced); token limits still apply.
    return billedCost(bill, est.promptTokens + est.outputTokens);
  }

  /** Expected cost of requests of a batch: estimated like any request (output per request), billed at the batch tier's prices. */
  #expectedBatch(req: BatchGateRequest, item: BatchItem): Cost {
    const model = item.model === null ? null : (this.#pricer().resolve(item.model) ?? item.model);
    const est = this.#estimator.estimate(model, req.keyId, item.bytes, item.maxTokens);
    const usage: Usage = { ...emptyUsage(), input: est.promptTokens, output: est.outputTokens * item.count, serviceTier: 'batch' };
    const bill = req.biller.bill(item.model, usage, { at: this.#clock.now(), betas: req.betas });
    return billedCost(bill, usage.input + usage.output);
  }

  /**
   * Admission of a batch create: every request estimated at batch prices, summed per instance
   * (a request counts on the instances its own model matches), reserved atomically as one hold
   * that lives `ttlMs`. It waits for reservations in flight like a request; it is never paced
   * (a batch is one call, its spend comes hours later) and never taken from leases.
   */
  async admitBatch(req: BatchGateRequest): Promise<Admission> {
    const now = this.#clock.now();
    const byModel = new Map<string | null, BatchItem[]>();
    for (const item of req.items) {
      const list = byModel.get(item.model);
      if (list === undefined) byModel.set(item.model, [item]);
      else list.push(item);
    }
    const index = new Map<string, number>();
    const refs: InstanceRef[] = [];
    const budgets: BudgetConfig[] = [];
    const amounts: Amount[] = [];
    let total: Cost = { money: null, tokens: 0 };
    for (const [model, items] of byModel) {
      const found = this.catalog.refsFor({ keyId: req.keyId, tag: req.tag, model, path: req.path, upstream: req.upstream }, now);
      let cost: Cost = { money: null, tokens: 0 };
      for (const item of items) if (item.count > 0) cost = addCost(cost, this.#expectedBatch(req, item));
      total = addCost(total, cost);
      const each = this.amountsFor(cost, found.refs);
      found.refs.forEach((ref, i) => {
        const key = this.#keyOf(ref);
        const a = each[i] as Amount;
        const at = index.get(key);
        if (at === undefined) {
          index.set(key, refs.length);
          refs.push(ref);
          budgets.push(found.budgets[i] as BudgetConfig);
          amounts.push({ pico: a.pico, tokens: a.tokens });
        } else {
          const sum = amounts[at] as Amount;
          amounts[at] = { pico: sum.pico + a.pico, tokens: sum.tokens + a.tokens };
        }
      });
    }
    if (refs.length === 0) return { kind: 'none' };
    const expected = total;
    const gateReq: GateRequest = { ...req, model: null, bytes: 0, maxTokens: null, priority: 'normal' };
    const p: Pending = { req: gateReq, refs, budgets, expected, amounts, last: null, attempts: 0, batch: { ttlMs: req.ttlMs } };
    const seen = this.#room.wakeCount();
    const first = await this.#attempt(p);
    if (first.kind === 'done') return first.value;
    return this.#wait(p, p.last?.i ?? 0, seen);
  }

  /**
   * `cost` on each ref, in the ref's currency, through the live rates. A missing rate (only a
   * reload racing a request: the config check requires every rate a budget needs) counts
   * `fallback[i]` (what the ref reserved) or no money, and is logged once per pair.
   */
  amountsFor(cost: Cost, refs: readonly InstanceRef[], fallback?: readonly Amount[]): Amount[] {
    const rates = this.#rates();
    return refs.map((ref, i) => {
      const a = amountIn(cost, ref, rates);
      if (a !== null) return a;
      const pair = `${cost.money?.currency}_${ref.currency}`;
      if (!this.#missingRates.has(pair)) {
        this.#missingRates.add(pair);
        this.#logger.error(
          { budget: ref.budget, pair },
          'no exchange rate for a budget’s currency: it counts what was reserved, or no money',
        );
      }
      return fallback?.[i] ?? { pico: 0, tokens: cost.tokens };
    });
  }

  async admit(req: GateRequest): Promise<Admission> {
    const now = this.#clock.now();
    const { refs, budgets } = this.catalog.refsFor(req, now);
    if (refs.length === 0) return { kind: 'none' };
    const expected = this.expected(req);
    const p: Pending = { req, refs, budgets, expected, amounts: this.amountsFor(expected, refs), last: null, attempts: 0 };
    try {
      const paced = this.#pacer ? await this.#pacer.check(req, refs, budgets, p.amounts) : null;
      if (paced) return this.#refused(p, paced.budget, paced.refusal);
    } catch (error) {
      return this.#storeError(p, error);
    }
    // No overtaking: behind requests already waiting here on one of its instances, it queues without trying.
    let i = this.#room.idle ? -1 : refs.findIndex((ref) => this.#room.occupied(this.#keyOf(ref)));
    const seen = this.#room.wakeCount();
    const leases = this.#leases;
    // A fresh clock: pacing may have waited, and a lease must be live now.
    if (i < 0 && leases !== null && leases.book.take(refs, budgets, p.amounts, this.#clock.now())) {
      leases.wake();
      const states = leases.book.states(refs);
      this.#shadowRefusals(refs, budgets, states, p.amounts);
      return {
        kind: 'admitted',
        refs,
        budgets,
        expected,
        amounts: p.amounts,
        headers: this.#leasedHeaders(refs, budgets, states),
        leased: true,
      };
    }
    if (i < 0) {
      const first = await this.#attempt(p);
      if (first.kind === 'done') return first.value;
      i = p.last?.i ?? 0;
    }
    return this.#wait(p, i, seen);
  }

  /** Waits for reservations to settle on refs[i] (FIFO in this proxy), then answers as the last attempt did. */
  async #wait(p: Pending, i: number, seen: number): Promise<Admission> {
    const ref = p.refs[i] as InstanceRef;
    const budget = p.budgets[i] as BudgetConfig;
    this.#listen();
    const t0 = this.#clock.monotonic();
    let queued = true;
    const ended = (how: 'timeout' | 'queue_full'): Admission => {
      queued = how !== 'queue_full';
      const wait = { waitedMs: this.#clock.monotonic() - t0, queueFull: how === 'queue_full' };
      const last = p.last;
      const b = last === null ? budget : (p.budgets[last.i] as BudgetConfig);
      const r =
        last === null
          ? queuedRefusal(b, ref, wait)
          : refusal(b, p.refs[last.i] as InstanceRef, last.state, p.amounts[last.i] as Amount, this.#clock.now(), wait);
      return this.#refused(p, b, r);
    };
    const a = await this.#room.wait({
      key: this.#keyOf(ref),
      label: budget.name,
      maxQueue: budget.admission.max_queue,
      maxWaitMs: budget.admission.max_wait_ms,
      attempt: () => this.#attempt(p),
      expired: ended,
      left: () => ({ kind: 'left', budget }),
      ...(p.req.leaving ? { signal: p.req.leaving() } : {}),
      seenWakes: seen,
    });
    const outcome: WaitOutcome = a.kind === 'refused' ? 'refused' : a.kind === 'left' || a.kind === 'store_error' ? a.kind : 'admitted';
    if (queued) this.#events.onWaited?.(budget, outcome, (this.#clock.monotonic() - t0) / 1000);
    return a;
  }

  /** One ledger admission: an answer, or blocked on an instance only by reservations in flight (worth waiting). */
  async #attempt(p: Pending): Promise<Attempt<Admission>> {
    // Re-estimated on every attempt: settles seen while it waited (a cold start) make it tighter.
    if (p.attempts++ > 0 && p.batch === undefined) {
      p.expected = this.expected(p.req);
      p.amounts = this.amountsFor(p.expected, p.refs);
    }
    const { refs, budgets, expected, amounts } = p;
    let result: Awaited<ReturnType<BudgetLedger['admit']>>;
    try {
      result = await this.ledger.admit(refs, p.req.id, amounts, this.#clock.now(), p.batch?.ttlMs ?? this.#ttlMs);
    } catch (error) {
      return { kind: 'done', value: this.#storeError(p, error) };
    }
    this.#outage.recovered();
    this.#events.onStates?.(budgets, refs, result.states);
    if (!result.admitted) {
      const i = result.refusedBy;
      const [ref, budget, st, amount] = [refs[i], budgets[i], result.states[i], amounts[i]];
      if (ref === undefined || budget === undefined || st === undefined || amount === undefined)
        throw new Error(`budget store returned refusedBy ${i} for ${refs.length} refs`);
      if (result.fitsUnreserved && budget.admission.max_wait_ms > 0 && budget.admission.max_queue > 0) {
        p.last = { i, state: st };
        // The ledger recalled leases on it (other proxies hear it on the feed); this proxy's own go back now.
        this.#leases?.recall(this.#keyOf(ref));
        return { kind: 'blocked', key: this.#keyOf(ref) };
      }
      return { kind: 'done', value: this.#refused(p, budget, refusal(budget, ref, st, amount, this.#clock.now())) };
    }
    this.#shadowRefusals(refs, budgets, result.states);
    const headers = admittedHeaders(refs, budgets, result.states);
    // A batch's hold is not traffic: it must not size leases by its amount.
    if (this.#leases !== null && p.batch === undefined) {
      this.#leases.book.note(refs, budgets, amounts, this.#clock.now());
      this.#leases.wake();
    }
    return { kind: 'done', value: { kind: 'admitted', refs, budgets, expected, amounts, headers, leased: false } };
  }

  /**
   * The budget headers of a request admitted from leases: they read the last sync's states, so
   * they are made once per state (and budget, window) and shared until the next sync.
   */
  #leasedHeaders(refs: readonly InstanceRef[], budgets: readonly BudgetConfig[], states: readonly InstanceState[]): Record<string, string> {
    const t = tightest(refs, states);
    const [ref, budget, st] = [refs[t], budgets[t], states[t]];
    if (ref === undefined || budget === undefined || st === undefined) return {};
    const hit = this.#headers.get(st);
    if (hit !== undefined && hit.budget === budget && hit.window === ref.window) return hit.headers;
    const headers = admittedHeaders([ref], [budget], [st]);
    this.#headers.set(st, { budget, window: ref.window, headers });
    return headers;
  }

  /**
   * Shadow budgets that would have refused this admitted request. `states` are after its
   * reservation; from a lease they are the last sync's, so its own `amounts` are added.
   */
  #shadowRefusals(
    refs: readonly InstanceRef[],
    budgets: readonly BudgetConfig[],
    states: readonly InstanceState[],
    amounts?: readonly Amount[],
  ): void {
    refs.forEach((ref, i) => {
      const st = states[i];
      const b = budgets[i];
      if (ref.enforce || st === undefined || b === undefined) return;
      const a = amounts?.[i];
      const after = a ? { ...st, reservedPico: st.reservedPico + a.pico, reservedTokens: st.reservedTokens + a.tokens } : st;
      if (!overLimit(ref, after)) return;
      this.#events.onShadowRefused?.(b, ref);
      this.#logger.warn({ budget: b.name, instance: ref.instance, window: ref.window.id }, 'shadow budget would have refused this request');
    });
  }

  #refused(p: Pending, budget: BudgetConfig, r: Refusal): Admission {
    this.#events.onRefused?.(budget, r.cause);
    this.#recordDemand(p.req, p.refs, p.amounts);
    return { kind: 'refused', refusal: r, budget };
  }

  /** Fail open or closed per budget: any budget that says deny makes the request fail closed. */
  #storeError({ refs, budgets, expected }: Pending, error: unknown): Admission {
    const allow = budgets.every((b) => b.on_store_error === 'allow');
    for (const b of budgets) this.#events.onStoreError?.(b, allow);
    this.#outage.failed(error, () => ({ budgets: budgets.map((b) => b.name), allow }));
    return { kind: 'store_error', allow, refs, budgets, error, expected };
  }

  /** The id a settle's wake-up names an instance by (the feed's, so other proxies' settles match). */
  #keyOf(ref: InstanceRef): string {
    let key = this.#keys.get(ref);
    if (key === undefined) {
      key = this.#feed ? this.#feed.keyOf(ref) : `${ref.budget}\u0000${ref.instance}\u0000${ref.window.id}`;
      this.#keys.set(ref, key);
    }
    return key;
  }

  /** Hears settles (wake-ups for waiters) and recalls (for leases) from other proxies, from the first wait or lease on. */
  #listen(): void {
    if (this.#listening || !this.#feed) return;
    this.#listening = true;
    this.#feed.listen(
      (key) => this.#room.wake(key),
      (key) => this.#leases?.recall(key),
    );
  }

  /** Ends every wait (their 429s go out) and stops listening for settles elsewhere. Leases live on until closeLeases. */
  async close(): Promise<void> {
    this.#room.close();
    await this.#feed?.close();
  }

  /** Settled requests whose spend waits in leases for the store (part of claude_meter_budget_settles_pending). */
  get owedSettles(): number {
    return this.#leases?.book.owedSettles ?? 0;
  }

  /** Shutdown, after the requests in flight settled: unused leases go back and their spend is sent. */
  async closeLeases(): Promise<void> {
    await this.#leases?.close();
  }

  /**
   * Sends the spend settled under leases and returns their unused headroom now (the keeper
   * does so by itself within a sync interval); leasing resumes with the next requests. A store
   * that does not answer keeps it owed, re-sent at the next sync.
   */
  async flushLeases(): Promise<void> {
    await this.#leases?.sync(true);
  }

  /** A lease sync answered: budget gauges, spend counters and threshold alerts, as a settle's. */
  #synced(budgets: readonly BudgetConfig[], refs: readonly InstanceRef[], grants: readonly LeaseGrant[], spent: readonly number[]): void {
    // Recalls from other proxies are heard from the first sync on (the store answered).
    this.#listen();
    this.#events.onStates?.(
      budgets,
      refs,
      grants.map((g) => g.after),
    );
    refs.forEach((ref, i) => {
      const b = budgets[i];
      const g = grants[i];
      if (b === undefined || g === undefined) return;
      const pico = spent[i] ?? 0;
      // A duplicate's spend was added by the attempt whose answer was lost, and never counted here.
      if (pico > 0) this.#events.onSpent?.(b, ref, pico);
      for (const th of crossedThresholds(b.alert_at, ref, g.before, g.after)) {
        this.ledger.claimAlert(ref, th).then(
          (won) => {
            if (won) this.#events.onThreshold?.(b, ref, th, g.after);
          },
          (err: unknown) => this.#logger.debug({ err: String(err) }, 'could not claim a budget alert'),
        );
      }
    });
  }

  /** Refused demand feeds the forecast history (not the spend); SDK retries are not new demand. Best effort. */
  #recordDemand(req: GateRequest, refs: InstanceRef[], amounts: readonly Amount[]): void {
    if (req.retry === true) return;
    const pico = amounts.map((a) => a.pico);
    this.ledger.recordDemand(refs, pico, this.#clock.now()).catch((err: unknown) => {
      this.#logger.debug({ err: String(err) }, 'could not record refused demand');
    });
  }

  /**
   * Settle after the response: release the reservation, add the actual cost (as billed,
   * converted into each ref's currency). Throws when the store is unreachable (the caller queues it).
   * `amounts`: what each ref reserved, when the request was admitted.
   */
  async settle(
    admission: { refs: InstanceRef[]; budgets: BudgetConfig[]; amounts?: readonly Amount[]; leased?: boolean },
    id: string,
    actual: Cost,
    exact?: readonly Amount[],
  ): Promise<void> {
    const counted =
      exact !== undefined && exact.length === admission.refs.length
        ? [...exact]
        : this.amountsFor(actual, admission.refs, admission.amounts);
    const leases = this.#leases;
    const reserved = admission.amounts;
    if (leases !== null && admission.leased === true && reserved !== undefined) {
      // Its refs settle into the leases (the next sync adds the spend); refs added after
      // admission (the billed model's, for a request whose model was unread) settle exactly.
      const n = reserved.length;
      leases.book.settle(admission.refs.slice(0, n), reserved, counted.slice(0, n));
      leases.wake();
      for (const [i, b] of admission.budgets.slice(0, n).entries()) {
        const r = reserved[i];
        const a = counted[i];
        if (r && a) this.#events.onSettled?.(b, r, a);
      }
      if (admission.refs.length === n) return;
      await this.settle({ refs: admission.refs.slice(n), budgets: admission.budgets.slice(n) }, id, actual);
      return;
    }
    const result = await this.ledger.settle(admission.refs, id, counted, this.#clock.now());
    if (leases !== null && !result.duplicate && counted.some((a) => a.pico > 0 || a.tokens > 0)) {
      leases.book.eligible(admission.refs, admission.budgets, reserved ?? counted, this.#clock.now());
      leases.wake();
    }
    this.#released(admission.refs);
    this.#events.onStates?.(admission.budgets, admission.refs, result.after);
    for (const [i, ref] of admission.refs.entries()) {
      const b = admission.budgets[i];
      const before = result.before[i];
      const after = result.after[i];
      const amount = counted[i];
      if (!b || !before || !after || !amount) continue;
      const reserved = admission.amounts?.[i];
      if (reserved && result.reservationFound) this.#events.onSettled?.(b, reserved, amount);
      if (!result.duplicate && amount.pico > 0) this.#events.onSpent?.(b, ref, amount.pico);
      for (const th of crossedThresholds(b.alert_at, ref, before, after)) {
        if (await this.ledger.claimAlert(ref, th)) this.#events.onThreshold?.(b, ref, th, after);
      }
    }
  }

  /**
   * For a request the upstream refused (nothing billed): its reservation goes, and so does every
   * instance that leaves empty, so bad keys, tags and model names leave no state behind.
   * Throws when the store is unreachable (the caller queues it, like a settle).
   */
  async discard(
    admission: { refs: InstanceRef[]; budgets: BudgetConfig[]; amounts?: readonly Amount[]; leased?: boolean },
    id: string,
  ): Promise<void> {
    const { refs, budgets } = admission;
    if (this.#leases !== null && admission.leased === true && admission.amounts !== undefined) {
      this.#leases.book.discard(refs.slice(0, admission.amounts.length), admission.amounts);
      this.#leases.wake();
      return;
    }
    const result = await this.ledger.discard(refs, id, this.#clock.now());
    this.#released(refs);
    const gone = (_: unknown, i: number): boolean => result.dropped[i] === true;
    const kept = (x: unknown, i: number): boolean => !gone(x, i);
    this.#events.onStates?.(budgets.filter(kept), refs.filter(kept), result.after.filter(kept));
    if (result.dropped.some(Boolean)) this.#events.onDropped?.(budgets.filter(gone), refs.filter(gone));
  }

  /** Headroom may have returned on `refs`: this proxy's waiters need not wait for the feed's echo. */
  #released(refs: readonly InstanceRef[]): void {
    if (this.#room.idle) this.#room.noteWake();
    else for (const ref of refs) this.#room.wake(this.#keyOf(ref));
  }

  observe(model: string | null, keyId: string, requestBytes: number, usage: Usage, maxTokens: number | null = null): void {
    this.#estimator.observe(model, keyId, requestBytes, usage, maxTokens);
  }
}
