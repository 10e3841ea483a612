/**
 * A pricing table (bundled YAML, user file or inline config) is invalid.
 * The message names the source and the key path so a user can fix the file without reading code:
 *   `prices.yaml: pricing error at models.claude-opus-5.prices[0].input: must not be negative, got -1`
 */
export class PricingError extends Error {
  override readonly name = 'PricingError';
  readonly code = 'CLAUDE_METER_PRICING_INVALID';
  readonly source: string;
  readonly path: string;
  readonly reason: string;

  constructor(source: string, path: string, reason: string) {
    super(`${source}: pricing error at ${path}: ${reason}`);
    this.source = source;
    this.path = path;
    this.reason = reason;
  }
}

/** Keys that read unambiguously after a dot; others are bracket-quoted (same rule as config errors). */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `models` + `claude-opus-5` → `models.claude-opus-5`; `models` + `claude-3.5` → `models["claude-3.5"]`. */
export function joinKey(path: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}
