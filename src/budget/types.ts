/**
 * Budgets: caps on spend (in any currency) and/or tokens per window, enforced before forwarding
 * by reserving an expected cost and settled after the response with the actual cost.
 */
import type { Money } from '../core/money.ts';

export type BudgetScope = 'global' | 'per_key' | 'per_tag' | 'per_model' | 'per_upstream';
export type BudgetAction = 'reject' | 'throttle' | 'shadow';
export type CalendarUnit = 'hour' | 'day' | 'week' | 'month';

/** One budget as written in proxy.config.yaml (validated, defaults filled). */
export interface BudgetConfig {
  name: string;
  scope: BudgetScope;
  /** Optional filter; each list empty = any. Values are exact matches (key = key id, the short hash). */
  match: { key: string[]; tag: string[]; model: string[]; path: string[]; upstream: string[] };
  /** `hour | day | week | month` (calendar, in `timezone`) or a rolling duration like `24h`, `90m`, `7d`. */
  window: string;
  /** IANA time zone for calendar windows. */
  timezone: string;
  /** Spend limit in USD: the same as `limit` with `currency: USD`. */
  limit_usd: number | null;
  /** Spend limit in `currency` (exact decimal, at most 6 places). */
  limit: number | null;
  /** ISO 4217 code `limit` is in; traffic billed in another currency counts through `exchange_rates`. */
  currency: string | null;
  limit_tokens: number | null;
  action: BudgetAction;
  /** Fractions of the limit at which to alert, e.g. [0.5, 0.8, 1.0]. */
  alert_at: number[];
  /** What admission does when the budget store cannot be reached. */
  on_store_error: 'allow' | 'deny';
  /** Pacing for `action: throttle` (see README, Forecasting). */
  throttle: {
    /** `reject`: 429 with retry-after for when budget accrues; `delay`: hold the request up to max_delay_ms first. */
    mode: 'reject' | 'delay';
    max_delay_ms: number;
    /** Bucket capacity as seconds of the paced rate: how much burst pacing tolerates. */
    burst_s: number;
  };
  /**
   * A request that fits the limit but not the reservations in flight waits for them to settle
   * (FIFO per instance and proxy) up to `max_wait_ms`; at most `max_queue` wait per instance and proxy.
   */
  admission: { max_wait_ms: number; max_queue: number };
  /** Spike detection: the last `window_min` minutes' spend rate against the forecast band. */
  spike: {
    /** Alert when the recent rate exceeds this multiple of the forecast's p90 rate; null: off. */
    multiple: number | null;
    window_min: number;
    /** `alert`, or also throttle the key or tag that caused it (pace it to the forecast rate). */
    action: 'alert' | 'throttle_offender';
  };
}

export type WindowSpec = { kind: 'calendar'; unit: CalendarUnit; timezone: string } | { kind: 'rolling'; ms: number };

/** The window a budget instance is in at some instant. */
export interface WindowInstance {
  /** Stable id of this window, part of the Redis key (`2026-11-28`, `2026-W48`, `rolling`). */
  id: string;
  /** Epoch ms, inclusive. For rolling windows: now − length. */
  start: number;
  /** Epoch ms, exclusive. For rolling windows: now. */
  end: number;
  /** Rolling windows keep spend in segments of this many ms (calendar: one segment, the whole window). */
  segmentMs: number;
  /** Rolling window length, or null for calendar windows. */
  rollingMs: number | null;
}

/**
 * One concrete budget counter a request touches: (budget, scope value, window).
 * Computed by the catalog (catalog.ts), passed to the store as plain data.
 */
export interface InstanceRef {
  budget: string;
  /** Scope value: '*' for global, the key id, tag, model or upstream name otherwise. */
  instance: string;
  window: WindowInstance;
  /**
   * ISO 4217 code the instance counts money in: every pico amount the ledger holds or is given
   * for this ref is in it (a tokens-only budget counts USD, by convention).
   */
  currency: string;
  /** Integer pico-units of `currency`, or null when the budget has no money limit. */
  limitPico: number | null;
  limitTokens: number | null;
  /** False for shadow budgets: counted and reported, never blocking. */
  enforce: boolean;
}

export interface InstanceState {
  spentPico: number;
  reservedPico: number;
  spentTokens: number;
  reservedTokens: number;
}

/** What one ref is asked to hold or count: pico-units of the ref's currency, and tokens. */
export interface Amount {
  pico: number;
  tokens: number;
}

/**
 * What a request costs, or is expected to cost, as its upstream bills it: money in the billing
 * currency (null when unpriced: it counts no money, as an unknown price is never 0) and tokens.
 * The gate converts it into one Amount per ref, in that ref's currency.
 */
export interface Cost {
  money: Money | null;
  tokens: number;
}

export interface AdmitResult {
  admitted: boolean;
  /** Index into refs of the first enforcing instance that refused, or -1. */
  refusedBy: number;
  /**
   * Whether the refusing instance would have admitted it without in-flight reservations
   * (`spent + amount <= limit`): then waiting for settles can admit it. True when admitted.
   */
  fitsUnreserved: boolean;
  /** State of every ref after the operation (including this reservation when admitted). */
  states: InstanceState[];
}

export interface SettleResult {
  /** Spent before this settle, per ref (for alert threshold crossings). */
  before: InstanceState[];
  after: InstanceState[];
  /** Whether the reservation was still held (false: it had expired or never existed). */
  reservationFound: boolean;
  /** This id was settled before: nothing was added (retries after an ambiguous failure are safe). */
  duplicate: boolean;
}

export interface DiscardResult {
  /** Per ref: the instance held nothing else, so it was deleted with its listing entry. */
  dropped: boolean[];
  /** State of every ref afterwards (zero for a dropped one). */
  after: InstanceState[];
}

export interface PaceResult {
  ok: boolean;
  /** When not ok: ms until enough has accrued (Infinity when the rate is 0). */
  waitMs: number;
}

/**
 * How long a request that waits for headroom held in leases recalls them (part of the ledger's
 * contract): holders hear it at once or at their next sync and return their unused part.
 */
export const RECALL_MS = 1_000;

/**
 * One instance's part in a lease sync (BudgetLedger.lease): a proxy's standing reservation on
 * an instance, from which it admits requests locally while the budget has room.
 */
export interface LeaseEntry {
  ref: InstanceRef;
  /** Spend settled under the lease since the last sync: added to the instance's spend, once per batch. */
  spent: Amount;
  /**
   * Held whatever the limit, for as long as a request's own reservation (`heldTtlMs`): what
   * requests admitted from the lease are expected to cost, until a batch adds their spend.
   */
  held: Amount;
  /** The unused part the holder keeps: held again while its lease still exists, else asked for like `want`. */
  keep: Amount;
  /** More headroom asked for on top of `keep`: granted up to `1/share` of what is left, none while the instance is recalled. */
  want: Amount;
  /** A grant below this is no grant (a slice too small to admit a request is worth nothing). */
  min: Amount;
}

export interface LeaseGrant {
  /** What of `keep` the lease still held (all of it, unless the unused part had expired). */
  kept: Amount;
  /** Added to the unused part on top of what was kept. */
  granted: Amount;
  /** A request waits on this instance for headroom held in leases: holders return their unused part. */
  recalled: boolean;
  before: InstanceState;
  /** State after the sync: the lease (keep + granted) counts as reserved. */
  after: InstanceState;
}

export interface LeaseResult {
  grants: LeaseGrant[];
  /** This batch id was applied before: its spend was not added again (the lease was still set). */
  duplicate: boolean;
}

/*
 * The budget store, split by who uses it. MemoryBudgetStore and RedisBudgetStore implement all
 * three; each interface has its own contract suite (test/contract/budget-store-*.contract.ts).
 */

/** Atomic budget counters: the gate's admission and settlement, and the reports that read them. */
export interface BudgetLedger {
  /**
   * Atomically: drop expired reservations of every ref; then, if for every enforcing ref i
   * `spent + reserved + amounts[i] <= limit` (money and tokens, where set), add the reservation
   * `id` of amounts[i] to every ref i (enforcing or not) and report admitted. Otherwise change
   * nothing (except the expiry clean-up) and report the first refusing ref, and whether it would
   * have fitted there without the reservations in flight; when it would have, the instance is
   * recalled for RECALL_MS: lease holders return their unused headroom at their next sync.
   * `amounts` has one entry per ref, in that ref's currency (refs of one request may count
   * different currencies). Shadow refs never refuse but their reservation is tracked the same way.
   */
  admit(refs: readonly InstanceRef[], id: string, amounts: readonly Amount[], now: number, reservationTtlMs: number): Promise<AdmitResult>;
  /**
   * Atomically: release reservation `id` from every ref (if still held) and add actual[i] to the
   * spend of ref i, even when the reservation had expired: real spend is never dropped. Positive
   * spend also goes into the spend history (ForecastStore.hourlySpend / minuteSpend).
   */
  settle(refs: readonly InstanceRef[], id: string, actual: readonly Amount[], now: number): Promise<SettleResult>;
  /**
   * Atomically, for a request that was never billed (the upstream refused it): release
   * reservation `id` from every ref and delete each instance it leaves empty (no spend in the
   * window, no other reservation), with its listing entry. An instance made for a bad key, tag
   * or model name then leaves no state behind; one with spend or other requests in flight is
   * kept. Repeating it changes nothing more.
   */
  discard(refs: readonly InstanceRef[], id: string, now: number): Promise<DiscardResult>;
  /**
   * Atomically, for every entry: add `spent` (once per `batch`: a retried batch adds nothing
   * again); hold `held` as the reservation `lease:<holder>:f`, expiring after `heldTtlMs`; and
   * set the unused part, the reservation `lease:<holder>` expiring after `ttlMs`, to `keep`
   * (if that reservation still existed; else `keep` is asked for with `want`) plus a grant of up
   * to `want` (money and tokens where the ref has a limit and enforces it: within `limit -
   * spent - other reservations - held - kept`, divided by `share`, none below `min`;
   * unlimited otherwise). A lease that shrinks wakes the instance's waiters; zero removes it.
   */
  lease(
    holder: string,
    batch: string,
    entries: readonly LeaseEntry[],
    share: number,
    now: number,
    ttl: { ttlMs: number; heldTtlMs: number },
  ): Promise<LeaseResult>;
  /** Current state of each ref (expired reservations excluded). */
  state(refs: readonly InstanceRef[], now: number): Promise<InstanceState[]>;
  /**
   * Demand that was refused (paced or over the cap) goes into the same history as settled spend,
   * so the forecast keeps seeing what the scope *wants* to spend: otherwise pacing would teach
   * the forecaster that demand equals the limit and switch itself off. Only for refs whose
   * instance has state or whose scope has history: a scope that never had either (a made-up
   * key refused before the upstream saw it) is left without history keys. `pico[i]` is ref i's,
   * in its currency.
   */
  recordDemand(refs: readonly InstanceRef[], pico: readonly number[], now: number): Promise<void>;
  /** Scope values that have state in the window `windowId` of `budget` (for listing per_* budgets). */
  instances(budget: string, windowId: string): Promise<string[]>;
  /**
   * True exactly once per (budget, instance, window, threshold) across all proxies:
   * the caller that gets true sends the alert.
   */
  claimAlert(ref: InstanceRef, threshold: number): Promise<boolean>;
}

/** Pacing token buckets shared by every proxy (`action: throttle`, spike offenders). */
export interface PaceBuckets {
  /**
   * Refills `bucket` at `ratePerMs` pico-units (of the paced instance's currency) per ms up to `capacity`, then takes `cost` if the
   * level stays at or above `reserve` afterwards (low-priority traffic passes a reserve, so it
   * is throttled first). When it cannot, nothing is taken and `waitMs` says when the cost will
   * have accrued.
   */
  pace(bucket: string, cost: number, ratePerMs: number, capacity: number, reserve: number, now: number): Promise<PaceResult>;
}

/**
 * What the forecaster reads and publishes: the spend history the ledger writes, a refit lock,
 * spike incident claims and the shared forecast documents. It lives here, not in forecast/,
 * because the history is written by the ledger's settle (in the same script) and all of it
 * sits under the budget key schema.
 */
export interface ForecastStore {
  /** Settled spend and refused demand (pico-units of the instance's currency) per hour start in [from, to): the forecaster's history (kept 40 days). */
  hourlySpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>>;
  /** The same per minute start in [from, to): spike detection (kept 3 hours). */
  minuteSpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>>;
  /** True for exactly one caller per `key` until `ttlMs` passes: at most one proxy refits a forecast at a time. */
  claimRefit(key: string, ttlMs: number, now: number): Promise<boolean>;
  /** The same for a spike incident on a budget instance (`budget|instance`): one alert per incident across proxies. */
  claimIncident(key: string, ttlMs: number, now: number): Promise<boolean>;
  /** Shared forecast documents (JSON), so proxies that did not refit use the fitter's result. */
  putForecast(key: string, json: string, ttlMs: number, now: number): Promise<void>;
  getForecast(key: string, now: number): Promise<string | null>;
}

/**
 * Settles on every proxy, as wake-ups for requests waiting on an instance (budget/waiting.ts).
 * The Redis feed hears the settle script's sharded publish; the memory ledger needs none, since
 * its only proxy wakes its own waiters.
 */
export interface SettleFeed {
  /** The name a wake-up gives an instance. */
  keyOf(ref: InstanceRef): string;
  /**
   * Start hearing settles, and recalls of leased headroom (called when a request first waits or
   * a lease is first held, so an idle proxy holds no extra connection).
   */
  listen(onSettled: (key: string) => void, onRecall?: (key: string) => void): void;
  close(): Promise<void>;
}

/** One adapter with all three concerns, as the composition root builds and closes it. */
export interface BudgetStore extends BudgetLedger, PaceBuckets, ForecastStore {
  close(): Promise<void>;
}
