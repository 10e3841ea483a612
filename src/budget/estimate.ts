import type { Usage } from '../core/usage.ts';

/**
 * Expected size of a request before it runs, for budget reservations.
 *
 * Not max_tokens blindly: reserving max_tokens (LiteLLM's approach) blocks a key whose
 * requests ask for 64K tokens but produce 200 long before its cap is really near.
 *  - prompt tokens ≈ request bytes / bytes-per-token, the ratio learned per model from
 *    settled requests (JSON overhead, images and tool schemas make it differ by workload);
 *  - output tokens = a recent high percentile for this key and model, capped by max_tokens.
 * Underestimates are what the documented overshoot bound is made of; they are measured
 * (claude_meter_budget_reservation_ratio) so the bound can be checked in production.
 */
export interface EstimatorOptions {
  /** Bytes per prompt token before anything is learned; low on purpose (over-estimates tokens). */
  initialBytesPerToken?: number;
  /** Output tokens assumed for a key/model with no history, still capped by max_tokens. */
  coldOutputTokens?: number;
  /** Percentile of recent outputs used as the expectation (0..1). */
  outputQuantile?: number;
  /** Recent outputs remembered per key/model. */
  window?: number;
  /** Distinct key/model histories kept (LRU beyond this). */
  maxHistories?: number;
}

export interface Estimate {
  promptTokens: number;
  outputTokens: number;
}

const EWMA_ALPHA = 0.1;

export class CostEstimator {
  readonly #bytesPerToken = new Map<string, number>();
  readonly #outputs = new Map<string, number[]>();
  readonly #initialBpt: number;
  readonly #coldOutput: number;
  readonly #q: number;
  readonly #window: number;
  readonly #maxHistories: number;

  constructor(opts: EstimatorOptions = {}) {
    this.#initialBpt = opts.initialBytesPerToken ?? 2.5;
    this.#coldOutput = opts.coldOutputTokens ?? 4096;
    this.#q = opts.outputQuantile ?? 0.95;
    this.#window = opts.window ?? 100;
    this.#maxHistories = opts.maxHistories ?? 10_000;
  }

  estimate(model: string | null, keyId: string, requestBytes: number, maxTokens: number | null): Estimate {
    const bpt = this.#bytesPerToken.get(model ?? '') ?? this.#initialBpt;
    const promptTokens = Math.ceil(requestBytes / bpt);
    const history = this.#outputs.get(historyKey(model, keyId)) ?? this.#outputs.get(historyKey(model, '*'));
    const expected = history && history.length >= 5 ? quantile(history, this.#q) : this.#coldOutput;
    const cap = maxTokens !== null && maxTokens >= 0 ? maxTokens : Number.POSITIVE_INFINITY;
    return { promptTokens, outputTokens: Math.min(expected, cap) };
  }

  /** Learn from a settled request's real usage. */
  observe(model: string | null, keyId: string, requestBytes: number, usage: Usage): void {
    const prompt = usage.input + usage.cacheCreation + usage.cacheRead;
    if (prompt > 0 && requestBytes > 0) {
      const m = model ?? '';
      const ratio = clamp(requestBytes / prompt, 0.5, 64);
      const prev = this.#bytesPerToken.get(m);
      this.#bytesPerToken.set(m, prev === undefined ? ratio : prev + EWMA_ALPHA * (ratio - prev));
    }
    this.#push(historyKey(model, keyId), usage.output);
    this.#push(historyKey(model, '*'), usage.output);
  }

  #push(key: string, value: number): void {
    let h = this.#outputs.get(key);
    if (h === undefined) {
      if (this.#outputs.size >= this.#maxHistories) {
        const oldest = this.#outputs.keys().next().value;
        if (oldest !== undefined) this.#outputs.delete(oldest);
      }
      h = [];
    } else {
      this.#outputs.delete(key); // re-insert: Map order is our LRU order
    }
    h.push(value);
    if (h.length > this.#window) h.shift();
    this.#outputs.set(key, h);
  }
}

function historyKey(model: string | null, keyId: string): string {
  return `${model ?? ''}\u0000${keyId}`;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Nearest-rank quantile of a small sample. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] ?? 0;
}
