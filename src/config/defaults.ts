import type { Config, RoutedUpstreamConfig } from './types.ts';
import type { BudgetConfig } from '../budget/types.ts';
import { deepFreeze } from './freeze.ts';

/** List prices, in USD: what Anthropic itself bills. */
const BILLING_DEFAULTS = {
  currency: 'USD',
  list_price_factor: 1,
  pricing: { file: null, models: {} },
};

/** Everything in Config except `source`, which the loader sets. */
export type ConfigBody = Omit<Config, 'source'>;

/**
 * Every default in one place, with units. A config file only needs the keys it changes;
 * the schema walker (walk.ts) fills the rest from here. proxy.config.yaml at the repo root
 * mirrors these values, and a test keeps the two equal.
 */
export const DEFAULTS: Readonly<ConfigBody> = deepFreeze<ConfigBody>({
  listen: {
    host: '127.0.0.1', // loopback only: exposing the proxy is an explicit choice
    port: 8080,
    drain_timeout_ms: 8_000, // 8 s: inside Docker's default 10 s stop grace, leaving time to flush records
    workers: 1, // one process: N > 1 needs Redis (docs/workers.md)
  },
  upstream: {
    name: 'default',
    url: 'https://api.anthropic.com',
    api: 'anthropic',
    api_key: null, // null: forward the client's own credentials
    client_key_ids: [], // empty: no list of accepted client keys (claude-meter key-id prints a key's id)
    headers_timeout_ms: 600_000, // 10 minutes, the Anthropic SDK's own default request timeout
    body_timeout_ms: 600_000, // 10 minutes between body chunks (long thinking pauses in SSE)
    connect_timeout_ms: 10_000, // 10 seconds
    connections: 128, // keep-alive sockets per upstream origin
    usage_semantics: 'auto', // OpenAI-format usage: proven per upstream, `openai` until proven
    include_usage: true, // ask OpenAI-format streams for their usage, and hide what that added
    billing: BILLING_DEFAULTS,
  },
  upstreams: [], // none: every request goes to `upstream`
  exchange_rates: {}, // none: every budget counts in the currency its traffic is billed in
  store: {
    redis: {
      url: null, // null: embedded in-memory store, no Redis needed
      cluster_nodes: [], // Redis Cluster seed nodes (host:port); used instead of url when set
      key_prefix: 'cm',
      budget_leases: true, // admit from leased headroom while a budget has room: no Redis round trip per request
    },
    bucket_ttl_days: 35, // 35 days: a whole calendar month (<= 31 days) plus slack for late reads
    events_max_len: 1_000_000, // 1M entries, approximate (XADD MAXLEN ~)
    journal_max_records: 100_000, // 100k records held while the store is unreachable
  },
  pricing: {
    file: null, // null: bundled price table only
    models: {},
  },
  batches: {
    public_url: null, // null: results_url is rewritten relative, resolved by the SDK against its base URL
    poller: {
      api_key: null, // null: off; results are metered when a client downloads them through the proxy
      interval_ms: 300_000, // 5 minutes between looks at batches that may have ended
    },
  },
  metrics: {
    key_label: false, // off: one series per caller can explode cardinality
    tag_label: false,
    max_label_values: 500, // per client-named label (model, key_id, tag, budget_instance); more fold into `other`
  },
  log: {
    level: 'info',
  },
  limits: {
    max_json_body_bytes: 32 * 1024 * 1024, // 32 MiB, the Messages API request size limit
    max_sse_event_bytes: 1024 * 1024, // 1 MiB per SSE event
    max_decompressed_bytes: 64 * 1024 * 1024, // 64 MiB: twice the largest JSON body metered; a longer stream is rare, and asked for uncompressed
    max_decompression_ratio: 100, // decoded ÷ compressed past the first MiB: SSE and JSON compress 5-30:1, a bomb 1000:1
    max_request_body_bytes: 32 * 1024 * 1024, // 32 MiB, the Messages API request size limit: larger bodies stream through unread
    max_buffered_request_bytes: 256 * 1024 * 1024, // 256 MiB across requests in flight (8 bodies of the largest size); past it: 503
    max_batch_body_bytes: 256 * 1024 * 1024, // 256 MiB, the Message Batches create limit: read for its estimate (past max_request_body_bytes from a temporary file); larger bodies stream through unread
    max_spooled_batch_bytes: 1024 * 1024 * 1024, // 1 GiB of temporary files across batch creates in flight (4 of the largest); past it: 503
  },
  budgets: [], // none: metering only, nothing is ever refused (per-budget defaults: BUDGET_DEFAULTS)
  alerts: {
    webhook_url: null, // null: no webhook
    timeout_ms: 5_000, // 5 seconds per delivery attempt
    max_attempts: 5, // including the first
  },
  forecast: {
    refit_interval_ms: 300_000, // 5 minutes
    update_interval_ms: 30_000, // 30 seconds
    history_days: 28, // 4 weeks: day-of-week seasonality needs several of each weekday
  },
  reconcile: {
    enabled: false, // off: nothing reads Anthropic's reports unless asked
    admin_key: null, // needed when enabled: an admin key, e.g. ${ANTHROPIC_ADMIN_KEY}
    api_url: 'https://api.anthropic.com',
    upstreams: [], // empty: every upstream whose url is https://api.anthropic.com
    window_hours: 24, // the last 24 complete hours
    interval_ms: 60_000, // once a minute, the Admin API's documented sustainable polling rate
  },
  admin: {
    token: null, // null: no admin token configured
    protect_metrics: false, // false: /metrics needs no token, even with one set
  },
});

/**
 * Defaults for each entry of `budgets:`. `name` has none: every budget must be named, since
 * the name is part of its store keys, metrics and alerts. A limit (USD or tokens) is required
 * too, by a check in schema.ts, as there is no sensible default amount.
 */
export const BUDGET_DEFAULTS: Readonly<Omit<BudgetConfig, 'name'>> = deepFreeze<Omit<BudgetConfig, 'name'>>({
  scope: 'global', // one counter for all traffic the budget matches
  match: { key: [], tag: [], model: [], path: [], upstream: [] }, // empty lists: match anything
  window: 'day', // calendar day in `timezone`
  timezone: 'UTC',
  limit_usd: null,
  limit: null,
  currency: null,
  limit_tokens: null,
  action: 'reject', // refuse requests once the budget is spent
  alert_at: [], // no threshold alerts
  on_store_error: 'allow', // fail open: a store outage must not take the API down
  throttle: {
    mode: 'reject', // 429 + retry-after when the paced rate is used up
    max_delay_ms: 10_000, // 10 s: delay mode holds a request at most this long
    burst_s: 300, // 5 minutes of the paced rate may be spent at once
  },
  admission: {
    max_wait_ms: 5_000, // 5 s: settles usually free room in milliseconds; far below the SDKs' 10-minute timeout
    max_queue: 256, // waiting requests per budget instance and proxy; beyond: 429 at once
  },
  spike: {
    multiple: 5, // alert when the last minutes run at 5× the forecast's p90 rate
    window_min: 5, // 5 minutes
    action: 'alert',
  },
});

/** Defaults for each entry of `upstreams:`: `name`, `url`, `api` and `route` have none. */
export const UPSTREAM_DEFAULTS: Readonly<Omit<RoutedUpstreamConfig, 'name' | 'url' | 'api' | 'route'>> = deepFreeze({
  api_key: null,
  client_key_ids: [],
  headers_timeout_ms: 600_000,
  body_timeout_ms: 600_000,
  connect_timeout_ms: 10_000,
  connections: 128,
  usage_semantics: 'auto' as const,
  include_usage: true,
  billing: BILLING_DEFAULTS,
  select_by_header: false, // off: only the route prefix selects it
});
