import type { TokenKind, Usage, UsageMissingReason } from '../core/usage.ts';

/**
 * One completed request, as written to the store: "a record" throughout the code (the
 * Redis stream that holds them keeps its name, `events`). Everything needed to rebuild
 * every aggregate; nothing that identifies a caller except the hashed key id.
 */
export interface RequestRecord {
  /** Unique id (ours, not Anthropic's): makes store writes idempotent across journal replays. */
  id: string;
  /** Epoch ms when the request arrived. */
  ts: number;
  method: string;
  path: string;
  /** Model billed (response model, else request model), or null when unknown. */
  model: string | null;
  /** Short sha256 of the caller's API key; `anon` when none was sent. */
  keyId: string;
  /** From the `x-meter-tag` request header, sanitised; `''` when absent. */
  tag: string;
  /** HTTP status we returned to the client (502 when the upstream was unreachable). */
  status: number;
  stream: boolean;
  usage: Usage | null;
  usageMissing: UsageMissingReason | null;
  partial: boolean;
  /** The usage's output count is an estimate of what a stream cut short had streamed (see UsageOutcome). */
  estimated: boolean;
  /** The configured upstream that answered (`default` for the `upstream` section): a config name, never a client's. */
  upstream: string;
  /** List price in integer pico-USD (1e-12 USD); 0 when unpriced or usage is missing. */
  costPicoUsd: number;
  /** True when the model has no list price: cost is unknown, not zero. */
  unpriced: boolean;
  /** ISO 4217 code of what the upstream bills in (from its config, never from the client). */
  currency: string;
  /** What the upstream bills, in integer pico-units of `currency`; 0 when billedUnpriced or usage is missing. */
  billedPico: number;
  /** True when no billed price applies: the billed amount is unknown, not zero. */
  billedUnpriced: boolean;
  /** Why the reported usage was clamped to be consistent (BodyReading.adjusted); null when recorded as reported. */
  usageAdjusted: string | null;
  /** Free by design (count_tokens): a request that costs nothing and is known to. */
  free: boolean;
  /** Total time from request arrival to the last byte sent (ms). */
  latencyMs: number;
  /** Time to the first response byte sent to the client (ms), null if none. */
  ttftMs: number | null;
  /** Time from forwarding to the upstream's response headers (ms), null if none. */
  upstreamLatencyMs: number | null;
  errorType: string | null;
  messageId: string | null;
}

/**
 * What rows are grouped by. `upstream_model_key` (upstream, key id and model in one value, see
 * keys.ts) is recorded per hour: its rows start on the hour, and a query's from/to cut it by hours.
 */
export type Dimension = 'model' | 'key' | 'tag' | 'upstream' | 'all' | 'upstream_model_key';
export type Granularity = 'minute' | 'hour' | 'day';

/** Aggregate totals for one (dimension value, time bucket). Money exact as bigint pico-units. */
export interface Totals {
  requests: number;
  errors: number;
  partial: number;
  usageMissing: number;
  /** Requests without a list price. */
  unpriced: number;
  tokens: Record<TokenKind, number>;
  webSearchRequests: number;
  /** List price, pico-USD. */
  costPicoUsd: bigint;
  /**
   * What the upstreams billed, pico-units per currency code (one entry per currency seen, none
   * when nothing was billed). Keys are ISO 4217 codes from the config, never a client's text.
   */
  billed: Record<string, bigint>;
  /** Requests without a billed price: their billed amount is unknown, not zero. */
  billedUnpriced: number;
}

export interface UsageQuery {
  by: Dimension;
  granularity: Granularity;
  /** Inclusive epoch ms (rounded down to the minute). */
  from: number;
  /** Exclusive epoch ms. */
  to: number;
}

export interface UsageRow {
  /** Bucket start, epoch ms. */
  start: number;
  /** Dimension value (`*` for by=all). */
  value: string;
  totals: Totals;
}

export interface StoreHealth {
  kind: 'memory' | 'redis';
  reachable: boolean;
  detail?: string;
}

/**
 * Where request records go. Implementations: MemoryStore, RedisStore.
 * Both pass test/contract/meter-store.contract.ts.
 */
export interface MeterStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Persist one record: append to the record stream and add to every per-minute bucket.
   * Idempotent by `record.id`: writing the same record twice counts it once.
   * Rejects when the backend is unreachable (the Recorder journals it).
   */
  write(record: RequestRecord): Promise<void>;
  /**
   * Persist several records in one round trip (the Recorder's path). Every record is
   * validated first: one invalid record rejects the batch and writes nothing. Idempotent
   * by id like write(), so a batch may be retried whole after an ambiguous failure.
   */
  writeBatch(records: readonly RequestRecord[]): Promise<void>;
  /** Read aggregated totals, one row per (bucket, value), sorted by start then value. */
  query(q: UsageQuery): Promise<UsageRow[]>;
  /** The most recent records, newest first (bounded). */
  recent(limit: number): Promise<RequestRecord[]>;
  /**
   * Remembers the hint Anthropic shows for a key (`sk-ant-api03-R2D...igAA`: its first 16 and
   * last 4 characters, keys.ts assertKeyHint) under its key id, so `reconcile` can match our key
   * ids with Anthropic's `partial_key_hint`. First write wins; at most MAX_KEY_HINTS key ids, past
   * that a new one is not kept (its usage stays unmapped). Resolves true when the hint is stored.
   */
  saveKeyHint(keyId: string, hint: string): Promise<boolean>;
  /** Every stored hint by key id (at most MAX_KEY_HINTS). */
  keyHints(): Promise<Map<string, string>>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

export function emptyTotals(): Totals {
  return {
    requests: 0,
    errors: 0,
    partial: 0,
    usageMissing: 0,
    unpriced: 0,
    tokens: { input: 0, output: 0, cache_creation_5m: 0, cache_creation_1h: 0, cache_read: 0 },
    webSearchRequests: 0,
    costPicoUsd: 0n,
    billed: {},
    billedUnpriced: 0,
  };
}
