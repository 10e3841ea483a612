/**
 * The one error type config loading throws. Operators read these at boot, so the message
 * always names where (file, key path) and why, in one line:
 *
 *   /etc/claude-meter/proxy.config.yaml: config error at store.redis.url: expected a redis: or rediss: URL, got 'localhost'
 *
 * `file` is the path of the config file (absolute, as loaded), '<env>' for an environment
 * override (PORT, UPSTREAM_URL, REDIS_URL), or null when the value came from no file at
 * all; null prints as '<defaults>'.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file: string | null;
  /** Where in the document: `store.redis.url`, `budgets[2].limit_usd`, `(yaml)`, `(file)`, `(root)`, or an env name. */
  readonly keyPath: string;
  /** The bare reason, without file or key path (tests and tooling can match on it). */
  readonly reason: string;

  constructor(file: string | null, keyPath: string, reason: string, options?: { cause?: unknown }) {
    super(`${file ?? '<defaults>'}: config error at ${keyPath || ROOT}: ${reason}`, options);
    this.file = file;
    this.keyPath = keyPath || ROOT;
    this.reason = reason;
  }
}

/** The key path of the document root; shown when the whole document is wrong (e.g. a list). */
export const ROOT = '(root)';

/** Keys that read unambiguously after a dot; anything else is bracket-quoted. */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Appends a mapping key to a key path. Map keys from user data (model names such as
 * `claude-3.5-sonnet`) may contain dots, so those are quoted: `pricing.models["claude-3.5"]`.
 */
export function joinKey(path: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** Appends a list index to a key path: `budgets[2]`. */
export function joinIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}
