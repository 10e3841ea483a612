/**
 * The key prefix both Redis stores start from when none is configured (config
 * `store.redis.key_prefix` defaults to the same value). Each store wraps it in its own
 * Cluster hash tag: `{cm}:…` for meter records, `{cm:budget}:…` for budget state.
 */
export const DEFAULT_PREFIX = 'cm';
