import type { Config } from './types.ts';
import { deepFreeze } from './freeze.ts';

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
  },
  upstream: {
    url: 'https://api.anthropic.com',
    api_key: null, // null: forward the client's own credentials
    headers_timeout_ms: 600_000, // 10 minutes, the Anthropic SDK's own default request timeout
    body_timeout_ms: 600_000, // 10 minutes between body chunks (long thinking pauses in SSE)
    connect_timeout_ms: 10_000, // 10 seconds
    connections: 128, // keep-alive sockets per upstream origin
  },
  store: {
    redis: {
      url: null, // null: embedded in-memory store, no Redis needed
      key_prefix: 'cm',
    },
    bucket_ttl_days: 35, // 35 days: a whole calendar month (<= 31 days) plus slack for late reads
    events_max_len: 1_000_000, // 1M entries, approximate (XADD MAXLEN ~)
    journal_max_records: 100_000, // 100k records held while the store is unreachable
  },
  pricing: {
    file: null, // null: bundled price table only
    models: {},
  },
  metrics: {
    key_label: false, // off: one series per caller can explode cardinality
    tag_label: false,
  },
  log: {
    level: 'info',
  },
  limits: {
    max_json_body_bytes: 32 * 1024 * 1024, // 32 MiB, the Messages API request size limit
    max_sse_event_bytes: 1024 * 1024, // 1 MiB per SSE event
    max_request_body_bytes: 32 * 1024 * 1024, // 32 MiB, the Messages API request size limit: larger bodies stream through unread
  },
});
