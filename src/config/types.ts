import type { BillingConfig, PricingConfig } from '../pricing/types.ts';
import type { UsageSemantics } from '../core/usage.ts';
import type { BudgetConfig } from '../budget/types.ts';

/**
 * The validated, frozen configuration. Every key has a default (src/config/defaults.ts),
 * so a file that holds only the keys a user changes is valid.
 */
export interface Config {
  /** Absolute path of the file this came from, or null for defaults only. For error messages and reload. */
  source: string | null;
  listen: {
    host: string;
    /** port 0..65535; 0 lets the OS pick (tests). Env PORT overrides. */
    port: number;
    /** On SIGTERM/SIGINT, requests in flight may finish for this long (ms); then they are cut and recorded as partial. */
    drain_timeout_ms: number;
    /** Processes serving the port (docs/workers.md): 1 (one process, no cluster), N, or 0 for one per available core. CLI --workers wins. */
    workers: number;
  };
  /** The default upstream: requests no route prefix selects. Restart-only except `billing`. */
  upstream: UpstreamSection;
  /**
   * Routed upstreams: a request whose path starts with `route` goes to that upstream, the prefix
   * removed. Empty: every request goes to `upstream`.
   */
  upstreams: RoutedUpstreamConfig[];
  /** Exact rates between currencies, `FROM_TO: units of TO per FROM` (USD_CNY: 7.1); one direction implies the other. */
  exchange_rates: Record<string, number>;
  store: {
    /** url null: embedded in-memory store (a redis: or rediss: URL otherwise). Env REDIS_URL overrides; '' means null. */
    /** `url` for one Redis, or `cluster_nodes` (host:port seeds) for Redis Cluster; neither: in-memory. */
    redis: { url: string | null; cluster_nodes: string[]; key_prefix: string; budget_leases: boolean };
    /** Per-minute aggregate buckets expire after this many days. */
    bucket_ttl_days: number;
    /** The per-request event stream is capped (XADD MAXLEN ~). */
    events_max_len: number;
    /** Records kept locally while the store is unreachable; beyond this the oldest are dropped and counted. */
    journal_max_records: number;
  };
  pricing: PricingConfig;
  /** Message Batches (docs/batches.md). */
  batches: {
    /** The proxy's address as clients reach it: rewritten `results_url`s become absolute under it; null: relative to the client's base URL. */
    public_url: string | null;
    /** Downloads the results of batches created through the proxy that nobody downloaded through it. */
    poller: {
      /** Its own API key (an Anthropic key that can read the org's batches); null: off. */
      api_key: string | null;
      /** How often it looks (ms); at least a minute. */
      interval_ms: number;
    };
  };
  metrics: {
    /** Add a `key` label (hashed key id) to request metrics. Cardinality grows with callers. */
    key_label: boolean;
    /** Add a `tag` label to request metrics. */
    tag_label: boolean;
    /** Values each client-named label (model, key_id, tag, budget_instance) may take; more are exported as `other`. */
    max_label_values: number;
  };
  log: { level: 'debug' | 'info' | 'warn' | 'error' | 'silent' };
  limits: {
    /** Largest JSON response body the usage tap inspects (bytes); the body still passes through whole. */
    max_json_body_bytes: number;
    /** Largest single SSE event the tap parses (bytes); a larger one keeps only the members the dialect reads. */
    max_sse_event_bytes: number;
    /** Largest decoded copy of a compressed response the tap inspects (bytes); the client still gets every byte. */
    max_decompressed_bytes: number;
    /** Largest expansion of a compressed response (decoded ÷ compressed bytes, past the first MiB) the tap inspects. */
    max_decompression_ratio: number;
    /**
     * Largest request body read before forwarding (to learn model and max_tokens); a larger body
     * streams through unread and the upstream decides.
     */
    max_request_body_bytes: number;
    /** Request body bytes held in memory across all requests in flight; a request past it gets a 503 with retry-after. */
    max_buffered_request_bytes: number;
    /**
     * Largest Message Batches create body read before forwarding (for its estimate): held in memory
     * up to max_request_body_bytes, past it in a temporary file; a larger body streams through unread.
     */
    max_batch_body_bytes: number;
    /** Batch create bytes in temporary files across all creates in flight; a create past it gets a 503 with retry-after. */
    max_spooled_batch_bytes: number;
  };
  /** Spend/token caps per window (src/budget/types.ts). Names are unique; each has a USD or token limit. */
  budgets: BudgetConfig[];
  alerts: {
    /** Where budget threshold alerts are POSTed (http: or https:); null: no webhook. */
    webhook_url: string | null;
    /** Timeout of one delivery attempt (ms). */
    timeout_ms: number;
    /** Attempts per alert, including the first. */
    max_attempts: number;
  };
  forecast: {
    /** Refit each budget instance's model this often (ms); at most one proxy refits an instance at a time. */
    refit_interval_ms: number;
    /** Re-project (cheap: new spend, same model) this often (ms); also the spike check cadence. */
    update_interval_ms: number;
    /** Days of hourly history a fit uses. */
    history_days: number;
  };
  /** Continuous reconciliation with Anthropic's usage report (docs/reconcile.md#continuous-reconciliation). */
  reconcile: {
    /** One proxy of the deployment reads the usage report and every proxy exports the capture ratio. */
    enabled: boolean;
    /** An admin key (`sk-ant-admin01-…`), usually `${ANTHROPIC_ADMIN_KEY}`. A secret: describeConfig hides it. */
    admin_key: string | null;
    /** The Admin API origin. */
    api_url: string;
    /** The upstreams whose traffic is Anthropic's own; empty: those whose url is https://api.anthropic.com. */
    upstreams: string[];
    /** Complete hours compared, ending at the last hour whose data has landed. */
    window_hours: number;
    /** How often (ms) one proxy of the deployment reads the report; at least a minute, the documented sustainable rate. */
    interval_ms: number;
  };
  admin: {
    /** Bearer token for the admin API; null: none configured. A secret: describeConfig hides it. */
    token: string | null;
    /** Also require the token on /metrics (false: /metrics stays open, as scrapers without credentials expect). */
    protect_metrics: boolean;
  };
}

/** The API an upstream natively speaks: its error shape, credential header and metered routes. */
export type UpstreamApi = 'anthropic' | 'openai';

/** What an OpenAI-format `prompt_tokens` means at an upstream (defined in core: the OpenAI dialect reads it too). */
export type { UsageSemantics } from '../core/usage.ts';

/** One upstream's settings (the default `upstream:` and each of `upstreams:`). */
export interface UpstreamSection {
  /** Names the upstream in records, reports, metrics and budgets (`match.upstream`). */
  name: string;
  /** http: or https: origin plus an optional base path. Env UPSTREAM_URL overrides the default upstream's. */
  url: string;
  api: UpstreamApi;
  /** When set, replaces the client's credentials on the way out (every credential header is removed). */
  api_key: string | null;
  /**
   * Accepted client key ids (`claude-meter key-id` prints a key's): any other key, or none,
   * gets a 401 and is never forwarded. Empty: no list; with api_key set, client keys are then
   * an identity nobody checks (`unverified`), and per-key budgets are refused.
   */
  client_key_ids: string[];
  /** Max time to wait for response headers (ms). */
  headers_timeout_ms: number;
  /** Max idle time between body chunks (ms). */
  body_timeout_ms: number;
  /** Max time to open the TCP/TLS connection (ms). All timeouts are 1..2^31-1 (Node timer limit). */
  connect_timeout_ms: number;
  /** Keep-alive sockets to this upstream's origin. */
  connections: number;
  /** OpenAI-format responses: whether `prompt_tokens` includes cached tokens. */
  usage_semantics: UsageSemantics;
  /**
   * OpenAI-format chat streams: add `stream_options.include_usage` when the client did not, and
   * remove from the response exactly what that addition caused.
   */
  include_usage: boolean;
  billing: BillingConfig;
}

export interface RoutedUpstreamConfig extends UpstreamSection {
  /** Path prefix that selects it (`/holysheep`), removed before forwarding. */
  route: string;
  /** An `x-meter-upstream: NAME` request header may select this upstream (the route prefix wins when both are present). */
  select_by_header: boolean;
}
