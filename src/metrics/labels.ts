/**
 * Caps on the values a metric label takes. Models, key ids, tags and budget instances come from
 * clients; without a cap every new one adds series to every scrape, for good. Upstream names
 * come from the config, but reloads can rename them for as long as the process lives: capped too. Past the cap a
 * new value is exported as `other` and the fold is counted (claude_meter_label_overflow_total).
 * Only metric labels fold: records, budget instances and stored dimensions keep every value.
 */

/** The label value new values fold into once a label is full. */
export const OTHER = 'other';

/** The labels that are capped, as named in claude_meter_label_overflow_total{label}. */
export type CappedLabel = 'model' | 'upstream' | 'key_id' | 'tag' | 'budget_instance' | 'adjusted_reason';

export class LabelCap {
  readonly label: CappedLabel;
  readonly #max: number;
  readonly #values: Set<string>;
  readonly #onFold: (label: CappedLabel) => void;

  /** `fixed`: values the proxy itself names (`unknown`, `anon`, `untagged`), placed from the start. */
  constructor(label: CappedLabel, max: number, onFold: (label: CappedLabel) => void, fixed: readonly string[] = []) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`label cap must be a positive integer, got ${max}`);
    this.label = label;
    this.#max = max;
    this.#values = new Set(fixed);
    this.#onFold = onFold;
  }

  /**
   * The label value to export for `v`: `v` once it has a place. A new value takes a free place
   * only when `claim` is true (the caller passes false for a request refused as bad, so a
   * flood of bad keys or model names takes no place from a real one); otherwise `other`.
   * One Set lookup on the usual path.
   */
  value(v: string, claim = true): string {
    if (this.#values.has(v)) return v;
    if (claim && this.#values.size < this.#max) {
      this.#values.add(v);
      return v;
    }
    this.#onFold(this.label);
    return OTHER;
  }

  /** Gives a value's place back (its series were removed). */
  release(v: string): void {
    this.#values.delete(v);
  }

  get size(): number {
    return this.#values.size;
  }
}

/** One cap per capped label, each `max` values. */
export interface LabelCaps {
  model: LabelCap;
  upstream: LabelCap;
  keyId: LabelCap;
  tag: LabelCap;
  /** Keyed by budget and instance (`budget\0instance`): one budget's instances do not hide another's. */
  budgetInstance: LabelCap;
  /** The `reason` of claude_meter_usage_adjusted_total: a dialect's own codes, capped in case one ever carries more. */
  adjustedReason: LabelCap;
}

export function labelCaps(max: number, onFold: (label: CappedLabel) => void): LabelCaps {
  return {
    model: new LabelCap('model', max, onFold, ['unknown']),
    upstream: new LabelCap('upstream', max, onFold, ['default']),
    keyId: new LabelCap('key_id', max, onFold, ['anon']),
    tag: new LabelCap('tag', max, onFold, ['untagged']),
    budgetInstance: new LabelCap('budget_instance', max, onFold),
    adjustedReason: new LabelCap('adjusted_reason', max, onFold),
  };
}

/** The budget_instance cap's key for one instance of one budget. */
export function instanceKey(budget: string, instance: string): string {
  return `${budget}\u0000${instance}`;
}
