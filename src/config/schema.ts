import { DEFAULTS, type ConfigBody } from './defaults.ts';
import { walk, type IntNode, type ObjectOf, type SchemaOf, type WalkContext } from './walk.ts';

/**
 * The config schema: every key, its type and its bounds, in one declaration. Typed as
 * SchemaOf<ConfigBody>, so tsc fails if this drifts from types.ts (a key missing or extra,
 * a wrong kind, a nullable key not marked nullable). Defaults live in defaults.ts.
 *
 * To add a section (e.g. `budgets:`): add its type to Config, its default to DEFAULTS, and
 * one entry under `keys` below. A list of objects is a `list` node whose `items` is an
 * `object` node; `itemDefaults` holds per-item defaults (a key it leaves out is required in
 * every item), and `check` hooks on the item and on the list express cross-field rules
 * ("needs limit_usd or limit_tokens", duplicate names) by returning { keyPath, reason }.
 */

/**
 * Node's timers (used by undici and http-proxy-3) hold at most 2^31-1 ms (~24.8 days);
 * a larger delay fires after 1 ms instead, so a huge "no timeout" value would time out at once.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;
const timeoutMs = { kind: 'int', min: 1, max: MAX_TIMER_MS } as const satisfies IntNode;
const positiveInt = { kind: 'int', min: 1 } as const satisfies IntNode;

export const configSchema: ObjectOf<ConfigBody> = {
  kind: 'object',
  keys: {
    listen: {
      kind: 'object',
      keys: {
        host: { kind: 'string', nonEmpty: true },
        // 0 asks the OS for a free port (tests).
        port: { kind: 'int', min: 0, max: 65535 },
      },
    },
    upstream: {
      kind: 'object',
      keys: {
        url: { kind: 'url', protocols: ['https:', 'http:'] },
        api_key: { kind: 'string', nullable: true },
        headers_timeout_ms: timeoutMs,
        body_timeout_ms: timeoutMs,
        connect_timeout_ms: timeoutMs,
        connections: positiveInt,
      },
    },
    store: {
      kind: 'object',
      keys: {
        redis: {
          kind: 'object',
          keys: {
            url: { kind: 'url', protocols: ['redis:', 'rediss:'], nullable: true },
            key_prefix: { kind: 'string', nonEmpty: true },
          },
        },
        bucket_ttl_days: positiveInt,
        events_max_len: positiveInt,
        journal_max_records: positiveInt,
      },
    },
    pricing: {
      kind: 'object',
      keys: {
        file: { kind: 'string', nonEmpty: true, nullable: true },
        // Opaque here: the pricing module owns the row shape and validates it.
        models: { kind: 'map', values: { kind: 'any' } },
      },
    },
    metrics: {
      kind: 'object',
      keys: {
        key_label: { kind: 'bool' },
        tag_label: { kind: 'bool' },
      },
    },
    log: {
      kind: 'object',
      keys: {
        level: { kind: 'enum', values: ['debug', 'info', 'warn', 'error', 'silent'] },
      },
    },
    limits: {
      kind: 'object',
      keys: {
        max_json_body_bytes: positiveInt,
        max_sse_event_bytes: positiveInt,
        max_request_body_bytes: positiveInt,
      },
    },
  },
};

/**
 * Validates a parsed (and interpolated) document against the schema and fills defaults.
 * Throws ConfigError naming ctx.file and the key path.
 */
export function validateConfig(input: unknown, ctx: WalkContext): ConfigBody {
  // The one cast: walk() returns unknown, and configSchema is checked against ConfigBody
  // at compile time (SchemaOf), so a value that passed it has that shape.
  return walk(configSchema, input, DEFAULTS, '', ctx) as ConfigBody;
}

/** The node for one key, for validating a value from elsewhere (an env override) the same way. */
export const nodes = {
  port: configSchema.keys.listen.keys.port,
  upstreamUrl: configSchema.keys.upstream.keys.url,
  redisUrl: configSchema.keys.store.keys.redis.keys.url,
} as const;
