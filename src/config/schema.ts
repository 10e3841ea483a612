import type { BudgetConfig } from '../budget/types.ts';
import { parseWindow, validTimezone } from '../budget/windows.ts';
import { scaleDecimal } from '../core/decimal.ts';
import { parseTarget } from '../core/target.ts';
import { CURRENCY_CODE } from '../core/money.ts';
import type { BillingConfig } from '../pricing/types.ts';
import { BUDGET_DEFAULTS, DEFAULTS, UPSTREAM_DEFAULTS, type ConfigBody } from './defaults.ts';
import type { RoutedUpstreamConfig, UpstreamSection } from './types.ts';
import { joinIndex, joinKey } from './errors.ts';
import { budgetRateIssue, rateIssue } from './currencies.ts';
import { checkRoutedUpstream, distinctRoutes, uniqueUpstreamNames, verifiedKeys } from './upstream-checks.ts';
import { show, walk, type IntNode, type Issue, type ListOf, type ObjectOf, type WalkContext } from './walk.ts';

/**
 * The config schema: every key, its type and its bounds, in one declaration. Typed as
 * ObjectOf<ConfigBody> (walk.ts: SchemaOf of an object), so tsc fails if this drifts from types.ts (a key missing or extra,
 * a wrong kind, a nullable key not marked nullable). Defaults live in defaults.ts.
 *
 * To add a section: add its type to Config, its default to DEFAULTS, and one entry under
 * `keys` below. A list of objects (`budgets:`) is a `list` node whose `items` is an
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

/** A `match:` filter value: one exact string, or a list of them (any of which matches). */
const matchValues = { kind: 'list', oneOrMany: true, items: { kind: 'string', nonEmpty: true } } as const satisfies ListOf<string>;

/** Budget names go into store keys, metric labels and alert payloads: keep them plain. */
const BUDGET_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * Limits are converted once to integer pico-USD; more than 6 decimals would not be exact.
 * $1e9 is far above any real budget and keeps the text form free of exponent notation.
 */
const MAX_LIMIT_USD = 1_000_000_000;

/** Rules across one budget's keys, in the order an operator would fix them. */
function checkBudget(b: BudgetConfig, path: string): Issue | undefined {
  if (!BUDGET_NAME.test(b.name)) {
    return { keyPath: joinKey(path, 'name'), reason: `must be 1 to 64 of the characters A-Z a-z 0-9 . _ -, got ${show(b.name)}` };
  }
  if (!validTimezone(b.timezone)) {
    const offset = /^[+-]/.test(b.timezone) ? ' (an IANA name, not an offset: e.g. Asia/Kolkata, or Etc/GMT-5 for a fixed UTC+5)' : '';
    return { keyPath: joinKey(path, 'timezone'), reason: `unknown time zone '${b.timezone}'${offset}` };
  }
  try {
    parseWindow(b.window, b.timezone);
  } catch (err) {
    return { keyPath: joinKey(path, 'window'), reason: err instanceof Error ? err.message : String(err) };
  }
  if (b.limit_usd !== null) {
    const exact = scaleDecimal(b.limit_usd, MAX_LIMIT_USD);
    if (!exact.ok) return { keyPath: joinKey(path, 'limit_usd'), reason: exact.reason };
  }
  if (b.limit !== null) {
    if (b.limit_usd !== null) return { keyPath: joinKey(path, 'limit'), reason: 'give limit_usd or limit with currency, not both' };
    if (b.currency === null) return { keyPath: joinKey(path, 'currency'), reason: 'is required with limit (e.g. currency: CNY)' };
    const exact = scaleDecimal(b.limit, MAX_LIMIT_USD);
    if (!exact.ok) return { keyPath: joinKey(path, 'limit'), reason: exact.reason.replace('pico-USD', 'pico-units') };
  }
  if (b.currency !== null) {
    const c = currencyCode(b.currency, joinKey(path, 'currency'));
    if (c !== undefined) return c;
    if (b.limit === null) return { keyPath: joinKey(path, 'limit'), reason: `is required with currency (the limit in ${b.currency})` };
  }
  if (b.limit_usd === null && b.limit === null && b.limit_tokens === null)
    return { keyPath: path, reason: 'needs limit_usd, limit (with currency) or limit_tokens' };
  return canonicalPaths(b.match.path, joinKey(joinKey(path, 'match'), 'path'));
}

/** Requests meet budgets by their canonical path (core/target.ts), so a filter spelled any other way would match nothing. */
function canonicalPaths(paths: readonly string[], path: string): Issue | undefined {
  for (const [i, p] of paths.entries()) {
    const t = parseTarget(p);
    if (t.kind === 'path' && t.path === p && t.query === '') continue;
    const hint = t.kind === 'path' ? ` (did you mean '${t.path}'?)` : '';
    const at = paths.length === 1 ? path : joinIndex(path, i);
    return { keyPath: at, reason: `must be a canonical path without a query, as requests are matched, got ${show(p)}${hint}` };
  }
  return undefined;
}

/** Thresholds fire in order, once each: a repeat or a step back is a mistake, not a preference. */
function ascending(values: readonly number[], path: string): Issue | undefined {
  for (let i = 1; i < values.length; i++) {
    const [prev, v] = [values[i - 1], values[i]];
    if (prev !== undefined && v !== undefined && v <= prev) {
      return {
        keyPath: joinIndex(path, i),
        reason: `must be greater than the previous threshold ${prev} (ascending, no repeats), got ${v}`,
      };
    }
  }
  return undefined;
}

/** Names identify a budget's counters across restarts and proxies, so they must be unique. */
function uniqueNames(budgets: readonly BudgetConfig[], path: string): Issue | undefined {
  const seen = new Map<string, number>();
  for (const [i, b] of budgets.entries()) {
    const first = seen.get(b.name);
    if (first !== undefined) {
      return { keyPath: joinKey(joinIndex(path, i), 'name'), reason: `duplicate budget name '${b.name}' (also ${joinIndex(path, first)})` };
    }
    seen.set(b.name, i);
  }
  return undefined;
}

const budgetSchema: ObjectOf<BudgetConfig> = {
  kind: 'object',
  check: checkBudget,
  keys: {
    name: { kind: 'string', nonEmpty: true },
    scope: { kind: 'enum', values: ['global', 'per_key', 'per_tag', 'per_model', 'per_upstream'] },
    match: {
      kind: 'object',
      keys: { key: matchValues, tag: matchValues, model: matchValues, path: matchValues, upstream: matchValues },
    },
    window: { kind: 'string', nonEmpty: true },
    timezone: { kind: 'string', nonEmpty: true },
    limit_usd: { kind: 'number', min: 0, minExclusive: true, nullable: true },
    limit: { kind: 'number', min: 0, minExclusive: true, nullable: true },
    currency: { kind: 'string', nonEmpty: true, nullable: true },
    limit_tokens: { kind: 'int', min: 1, nullable: true },
    action: { kind: 'enum', values: ['reject', 'throttle', 'shadow'] },
    // Fractions of the limit; above 1 reports overshoot (actual cost can settle past an estimate).
    alert_at: { kind: 'list', items: { kind: 'number', min: 0, minExclusive: true, max: 1.5 }, check: ascending },
    on_store_error: { kind: 'enum', values: ['allow', 'deny'] },
    throttle: {
      kind: 'object',
      keys: {
        mode: { kind: 'enum', values: ['reject', 'delay'] },
        max_delay_ms: { kind: 'int', min: 0, max: 600_000 },
        burst_s: { kind: 'int', min: 1, max: 86_400 },
      },
    },
    admission: {
      kind: 'object',
      keys: {
        // 0 refuses at once (the behaviour before waiting); a minute is already past most client patience.
        max_wait_ms: { kind: 'int', min: 0, max: 60_000 },
        max_queue: { kind: 'int', min: 0, max: 100_000 },
      },
    },
    spike: {
      kind: 'object',
      keys: {
        multiple: { kind: 'number', min: 1, minExclusive: true, nullable: true },
        window_min: { kind: 'int', min: 1, max: 120 },
        action: { kind: 'enum', values: ['alert', 'throttle_offender'] },
      },
    },
  },
};

/** Redis Cluster seed nodes are written `host:port`. */
function hostPorts(nodes: readonly unknown[], path: string): Issue | undefined {
  for (const [i, n] of nodes.entries()) {
    const m = /^(.+):(\d{1,5})$/.exec(String(n));
    if (!m || Number(m[2]) > 65535) return { keyPath: `${path}[${i}]`, reason: `expected host:port, got '${String(n)}'` };
  }
  return undefined;
}

/** Key ids as `claude-meter key-id` prints them (http/identify.ts hashKey): never a raw key. */
function keyIds(ids: readonly string[], path: string): Issue | undefined {
  for (const [i, id] of ids.entries()) {
    if (!KEY_ID.test(id)) {
      // Not echoed: a raw key pasted here by mistake must not reach a log.
      return {
        keyPath: joinIndex(path, i),
        reason: 'expected a key id (16 lower-case hex characters, as printed by `claude-meter key-id`)',
      };
    }
  }
  return undefined;
}
const KEY_ID = /^[0-9a-f]{16}$/;

/** ISO 4217: what relays and banks print. */
function currencyCode(code: string | null, path: string): Issue | undefined {
  if (code === null || CURRENCY_CODE.test(code)) return undefined;
  return { keyPath: path, reason: `must be an ISO 4217 currency code of three upper-case letters (USD, CNY, EUR), got ${show(code)}` };
}

const billingSchema: ObjectOf<BillingConfig> = {
  kind: 'object',
  keys: {
    currency: { kind: 'string', nonEmpty: true },
    list_price_factor: { kind: 'number', min: 0, minExclusive: true, nullable: true },
    pricing: {
      kind: 'object',
      keys: {
        file: { kind: 'string', nonEmpty: true, nullable: true },
        // Opaque here: the pricing module owns the row shape and validates it.
        models: { kind: 'map', values: { kind: 'any' } },
      },
    },
  },
  check: (b, path) => {
    const c = currencyCode(b.currency, joinKey(path, 'currency'));
    if (c !== undefined || b.list_price_factor === null) return c;
    const exact = scaleDecimal(b.list_price_factor, MAX_LIMIT_USD);
    return exact.ok ? undefined : { keyPath: joinKey(path, 'list_price_factor'), reason: exact.reason.replace('pico-USD', 'pico-units') };
  },
};

/** The keys of one upstream, the default and each routed one. */
const upstreamKeys = {
  name: { kind: 'string', nonEmpty: true },
  url: { kind: 'url', protocols: ['https:', 'http:'] },
  api: { kind: 'enum', values: ['anthropic', 'openai'] },
  api_key: { kind: 'string', nullable: true },
  client_key_ids: { kind: 'list', oneOrMany: true, items: { kind: 'string', nonEmpty: true }, check: keyIds },
  headers_timeout_ms: timeoutMs,
  body_timeout_ms: timeoutMs,
  connect_timeout_ms: timeoutMs,
  connections: positiveInt,
  usage_semantics: { kind: 'enum', values: ['openai', 'anthropic', 'auto'] },
  include_usage: { kind: 'bool' },
  billing: billingSchema,
} as const satisfies ObjectOf<UpstreamSection>['keys'];

const routedUpstreamSchema: ObjectOf<RoutedUpstreamConfig> = {
  kind: 'object',
  check: checkRoutedUpstream,
  keys: {
    ...upstreamKeys,
    route: { kind: 'string', nonEmpty: true },
    select_by_header: { kind: 'bool' },
  },
};

export const configSchema: ObjectOf<ConfigBody> = {
  kind: 'object',
  check: (c) => uniqueUpstreamNames(c) ?? verifiedKeys(c) ?? rateIssue(c) ?? budgetRateIssue(c),
  keys: {
    listen: {
      kind: 'object',
      keys: {
        host: { kind: 'string', nonEmpty: true },
        // 0 asks the OS for a free port (tests).
        port: { kind: 'int', min: 0, max: 65535 },
        // 0 cuts at once; an hour is past any orchestrator's grace period.
        drain_timeout_ms: { kind: 'int', min: 0, max: 3_600_000 },
        // 0: one per core this process may use (cgroup CPU quota respected); 256 catches a typo.
        workers: { kind: 'int', min: 0, max: 256 },
      },
    },
    upstream: { kind: 'object', keys: upstreamKeys },
    upstreams: { kind: 'list', items: routedUpstreamSchema, itemDefaults: UPSTREAM_DEFAULTS, check: distinctRoutes },
    exchange_rates: { kind: 'map', values: { kind: 'number', min: 0, minExclusive: true } },
    store: {
      kind: 'object',
      keys: {
        redis: {
          kind: 'object',
          keys: {
            url: { kind: 'url', protocols: ['redis:', 'rediss:'], nullable: true },
            cluster_nodes: { kind: 'list', oneOrMany: true, items: { kind: 'string', nonEmpty: true }, check: hostPorts },
            key_prefix: { kind: 'string', nonEmpty: true },
            budget_leases: { kind: 'bool' },
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
    batches: {
      kind: 'object',
      keys: {
        public_url: { kind: 'url', protocols: ['https:', 'http:'], nullable: true },
        poller: {
          kind: 'object',
          keys: {
            api_key: { kind: 'string', nullable: true },
            interval_ms: { kind: 'int', min: 60_000, max: 86_400_000 },
          },
        },
      },
    },
    metrics: {
      kind: 'object',
      keys: {
        key_label: { kind: 'bool' },
        tag_label: { kind: 'bool' },
        max_label_values: { kind: 'int', min: 1, max: 100_000 },
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
        max_decompressed_bytes: positiveInt,
        max_decompression_ratio: positiveInt,
        max_request_body_bytes: positiveInt,
        max_buffered_request_bytes: positiveInt,
        max_batch_body_bytes: positiveInt,
        max_spooled_batch_bytes: positiveInt,
      },
      check: (l, path) =>
        l.max_buffered_request_bytes < l.max_request_body_bytes
          ? {
              keyPath: joinKey(path, 'max_buffered_request_bytes'),
              reason: `must be at least max_request_body_bytes (${l.max_request_body_bytes}): a body that size could never be read`,
            }
          : l.max_batch_body_bytes > l.max_request_body_bytes && l.max_spooled_batch_bytes < l.max_batch_body_bytes
            ? {
                keyPath: joinKey(path, 'max_spooled_batch_bytes'),
                reason: `must be at least max_batch_body_bytes (${l.max_batch_body_bytes}): a batch that size could never be read`,
              }
            : undefined,
    },
    budgets: { kind: 'list', items: budgetSchema, itemDefaults: BUDGET_DEFAULTS, check: uniqueNames },
    alerts: {
      kind: 'object',
      keys: {
        webhook_url: { kind: 'url', protocols: ['https:', 'http:'], nullable: true },
        timeout_ms: timeoutMs,
        max_attempts: { kind: 'int', min: 1, max: 100 },
      },
    },
    forecast: {
      kind: 'object',
      keys: {
        refit_interval_ms: timeoutMs,
        update_interval_ms: timeoutMs,
        history_days: { kind: 'int', min: 1, max: 39 },
      },
    },
    reconcile: {
      kind: 'object',
      keys: {
        enabled: { kind: 'bool' },
        admin_key: { kind: 'string', nonEmpty: true, nullable: true },
        api_url: { kind: 'url', protocols: ['https:', 'http:'] },
        upstreams: { kind: 'list', oneOrMany: true, items: { kind: 'string', nonEmpty: true } },
        // The report has hourly buckets for at most 168 hours a page.
        window_hours: { kind: 'int', min: 1, max: 168 },
        // At least a minute: the Admin API's documented sustainable polling rate.
        interval_ms: { kind: 'int', min: 60_000, max: MAX_TIMER_MS },
      },
      check: (r, path) =>
        r.enabled && r.admin_key === null
          ? {
              keyPath: joinKey(path, 'admin_key'),
              reason: 'is required when reconcile.enabled is true (an admin key, e.g. ${ANTHROPIC_ADMIN_KEY})',
            }
          : undefined,
    },
    admin: {
      kind: 'object',
      keys: {
        token: { kind: 'string', nonEmpty: true, nullable: true },
        protect_metrics: { kind: 'bool' },
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
