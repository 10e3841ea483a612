import type { Usage } from '../core/usage.ts';

/**
 * Expected size of a request before it runs, for budget reservations.
 *
 * Not max_tokens blindly: reserving max_tokens (LiteLLM's approach) blocks a key whose
 * requests ask for 64K tokens but produce 200 long before its cap is really near.
 *  - prompt tokens ≈ request bytes / bytes-per-token, the ratio learned from settled requests
 *    per model, then over all models (JSON overhead, images and tool schemas make it differ);
 *  - output tokens = a recent high percentile of the outputs of this key and model with a
 *    max_tokens of the same order; before the key has such history, of every settled request of
 *    the model with that order of max_tokens (a prior), then of all models; always capped by
 *    max_tokens, which is only an upper bound.
 * Underestimates are what the documented overshoot bound is made of; they are measured
 * (claude_meter_budget_reservation_ratio) so the bound can be checked in production.
 */
export interface EstimatorOptions {
  /** Bytes per prompt token before anything is learned; low on purpose (over-estimates tokens). */
  initialBytesPerToken?: number;
  /** Output tokens assumed when nothing with this max_tokens bucket has settled yet, still capped by max_tokens. */
  coldOutputTokens?: number;
  /** Percentile of recent outputs used as the expectation (0..1). */
  outputQuantile?: number;
  /** Recent outputs remembered per key/model (and per prior). */
  window?: number;
  /** Distinct histories kept (LRU beyond this). */
  maxHistories?: number;
  /** Outputs a key and model needs before its own history replaces the priors. */
  minKeySamples?: number;
}

export interface Estimate {
  promptTokens: number;
  outputTokens: number;
}

const EWMA_ALPHA = 0.1;
/** Prior and ratio of all models together. */
const ALL = '\u0001*';

export class CostEstimator {
  readonly #bytesPerToken = new Map<string, number>();
  readonly #outputs = new Map<string, History>();
  readonly #initialBpt: number;
  readonly #coldOutput: number;
  readonly #q: number;
  readonly #window: number;
  readonly #maxHistories: number;
  readonly #minKey: number;

  constructor(opts: EstimatorOptions = {}) {
    // Prompts as JSON run 3.5-4.5 bytes per token (English text, markup, escapes); 3 stays above the tokens.
    this.#initialBpt = opts.initialBytesPerToken ?? 3;
    this.#coldOutput = opts.coldOutputTokens ?? 4096;
    this.#q = opts.outputQuantile ?? 0.95;
    this.#window = opts.window ?? 100;
    this.#maxHistories = opts.maxHistories ?? 10_000;
    this.#minKey = opts.minKeySamples ?? 5;
  }

  estimate(model: string | null, keyId: string, requestBytes: number, maxTokens: number | null): Estimate {
    const m = model ?? '';
    const bpt = this.#bytesPerToken.get(m) ?? this.#bytesPerToken.get(ALL) ?? this.#initialBpt;
    const promptTokens = Math.ceil(requestBytes / bpt);
    const bucket = maxTokensBucket(maxTokens);
    const own = this.#outputs.get(historyKey(m, keyId, bucket));
    const history =
      own !== undefined && own.fifo.length >= this.#minKey
        ? own
        : (this.#outputs.get(priorKey(m, bucket)) ?? this.#outputs.get(priorKey(ALL, bucket)));
    const expected = history !== undefined && history.fifo.length > 0 ? sortedQuantile(history.sorted, this.#q) : this.#coldOutput;
    const cap = maxTokens !== null && maxTokens >= 0 ? maxTokens : Number.POSITIVE_INFINITY;
    return { promptTokens, outputTokens: Math.min(expected, cap) };
  }

  /** Learn from a settled request's real usage; `maxTokens` as the request asked (it picks the prior). */
  observe(model: string | null, keyId: string, requestBytes: number, usage: Usage, maxTokens: number | null = null): void {
    const m = model ?? '';
    const prompt = usage.input + usage.cacheCreation + usage.cacheRead;
    if (prompt > 0 && requestBytes > 0) {
      const ratio = clamp(requestBytes / prompt, 0.5, 64);
      for (const k of [m, ALL]) {
        const prev = this.#bytesPerToken.get(k);
        this.#bytesPerToken.set(k, prev === undefined ? ratio : prev + EWMA_ALPHA * (ratio - prev));
      }
    }
    const bucket = maxTokensBucket(maxTokens);
    this.#push(historyKey(m, keyId, bucket), usage.output);
    this.#push(priorKey(m, bucket), usage.output);
    this.#push(priorKey(ALL, bucket), usage.output);
  }

  #push(key: string, value: number): void {
    let h = this.#outputs.get(key);
    if (h === undefined) {
      if (this.#outputs.size >= this.#maxHistories) {
        const oldest = this.#outputs.keys().next().value;
        if (oldest !== undefined) this.#outputs.delete(oldest);
      }
      h = { fifo: [], sorted: [] };
    } else {
      this.#outputs.delete(key); // re-insert: Map order is our LRU order
    }
    h.fifo.push(value);
    h.sorted.splice(lowerBound(h.sorted, value), 0, value);
    if (h.fifo.length > this.#window) {
      const gone = h.fifo.shift() as number;
      h.sorted.splice(lowerBound(h.sorted, gone), 1);
    }
    this.#outputs.set(key, h);
  }
}

/** max_tokens of the same power of two share a prior: 1024 and 4096 callers expect different lengths. */
export function maxTokensBucket(maxTokens: number | null): string {
  return maxTokens === null || maxTokens <= 0 ? '-' : String(Math.ceil(Math.log2(maxTokens)));
}

/** Per max_tokens bucket too: one key's 256-token classifier calls and 4K-token essays are different workloads. */
function historyKey(model: string, keyId: string, bucket: string): string {
  return `${model}\u0000${keyId}\u0000${bucket}`;
}

function priorKey(model: string, bucket: string): string {
  return `${model}\u0002${bucket}`;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Nearest-rank quantile of a small sample. */
export function quantile(values: readonly number[], q: number): number {
  return sortedQuantile(
    [...values].sort((a, b) => a - b),
    q,
  );
}

/** The same on values already in ascending order. */
function sortedQuantile(sorted: readonly number[], q: number): number {
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] ?? 0;
}

/** The first index of `sorted` whose value is >= `v`. */
function lowerBound(sorted: readonly number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A key's (or prior's) recent outputs, in arrival order and kept sorted, so an estimate reads its quantile without sorting. */
interface History {
  fifo: number[];
  sorted: number[];
}
