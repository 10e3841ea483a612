/**
 * What a batch create body asks for, told member by member by the scan (batch-scan.ts): the
 * requests of the last `requests` array, each request's last `params`, model and max_tokens (the
 * last duplicate wins, as in JSON.parse), summed per (model, max_tokens), and the members named
 * twice. Memory: one group per (model, max_tokens) and the distinct models, both capped. Pure.
 */
import { bounded } from '../../core/bound.ts';

/** The requests of one (model, max_tokens): what the cost estimator takes, summed. */
export interface BatchGroup {
  /** `params.model`, bounded as request facts bound it; null when absent or not a string. */
  model: string | null;
  /** `params.max_tokens`; null when absent or not a finite number. */
  maxTokens: number | null;
  /** Requests in this group. */
  count: number;
  /** Their `params` object texts' sizes added up (bytes): the prompt-size input of the estimate. */
  bytes: number;
}

/**
 * Why a body is not readable: `json` (JSON.parse would refuse it), `shape` (valid JSON, but no
 * `requests` array of objects each with a `params` object), `deep` (nested past MAX_DEPTH),
 * `long` (a kept value past its cap: no real model or max_tokens is that long), `oversized`
 * (the body passed limits.max_batch_body_bytes: the read stopped scanning, http/batch-body.ts).
 */
export type BatchUnreadable = 'json' | 'shape' | 'deep' | 'long' | 'oversized';

export interface BatchScanResult {
  readable: boolean;
  reason: BatchUnreadable | null;
  /** Elements of the `requests` array (all of them, kept or not). */
  requests: number;
  /** More requests, distinct models or groups than kept (maxRequests, maxModels, maxGroups): the groups are incomplete. */
  tooMany: boolean;
  /**
   * A member named twice where parsers may disagree on which wins, so the upstream may bill
   * other requests than the budget saw (RequestFacts.conflict): `requests` or a `params` named
   * twice at all (too large to compare), a `model` twice with different values.
   */
  conflict: 'requests' | 'params' | 'model' | null;
  /** One per (model, max_tokens), in order of first appearance. */
  groups: BatchGroup[];
}

export interface BatchScanOptions {
  /** Requests kept in the groups; the API takes at most 100,000 per batch. */
  maxRequests?: number;
  /** Distinct models kept. */
  maxModels?: number;
  /** Distinct (model, max_tokens) kept: with the other caps, a few MB at most whatever the body. */
  maxGroups?: number;
}

/** What a body is read as when it was not read to its end, or not as a batch. */
export function unreadableBatch(reason: BatchUnreadable): BatchScanResult {
  return { readable: false, reason, requests: 0, tooMany: false, conflict: null, groups: [] };
}

export class BatchTally {
  readonly #maxRequests: number;
  readonly #maxModels: number;
  readonly #maxGroups: number;
  #reqsSeen = false;
  #reqsBad = false;
  #requests = 0;
  #tooMany = false;
  #conflict: BatchScanResult['conflict'] = null;
  #groups = new Map<string, BatchGroup>();
  /** Each distinct model's number. */
  #models = new Map<string, number>();
  #elemParams = 0; // 0 none, 1 an object, 2 something else
  #model: string | null = null;
  /** The model's value as written when it was named (null: not a string), for the duplicate check. */
  #modelSeen: string | null | undefined = undefined;
  #maxTokens: number | null = null;
  #bytes = 0;

  constructor(opts: BatchScanOptions = {}) {
    this.#maxRequests = opts.maxRequests ?? 100_000;
    this.#maxModels = opts.maxModels ?? 1_000;
    this.#maxGroups = opts.maxGroups ?? 10_000;
  }

  /** The answer: `reason` is the scan's (null: the text was valid JSON to its end). */
  result(reason: BatchUnreadable | null): BatchScanResult {
    const why = reason ?? (!this.#reqsSeen || this.#reqsBad ? 'shape' : null);
    if (why !== null) return unreadableBatch(why);
    return {
      readable: true,
      reason: null,
      requests: this.#requests,
      tooMany: this.#tooMany,
      conflict: this.#conflict,
      groups: [...this.#groups.values()],
    };
  }

  /** A `requests` value: the last one wins, so what an earlier one held is dropped. */
  requests(isArray: boolean): void {
    if (this.#reqsSeen) this.#conflict = 'requests';
    this.#reqsSeen = true;
    this.#reqsBad = !isArray;
    this.#requests = 0;
    this.#tooMany = false;
    this.#groups = new Map();
    this.#models = new Map();
  }

  /** A `params` value of the current element: the last one wins. */
  params(isObject: boolean): void {
    if (this.#elemParams !== 0) this.#conflict ??= 'params';
    this.#elemParams = isObject ? 1 : 2;
    this.#model = null;
    this.#modelSeen = undefined;
    this.#maxTokens = null;
  }

  /** A `model` value of the current params: a string, or null for any other value. */
  model(v: string | null): void {
    const prev = this.#modelSeen;
    // As lib/json-body.ts namedTwice: different strings, or two values one of which is not a string.
    if (prev !== undefined && (prev !== v || v === null)) this.#conflict ??= 'model';
    this.#modelSeen = v;
    this.#model = v === null ? null : bounded(v);
  }

  /** A `max_tokens` value of the current params: a finite number, or null for any other value. */
  maxTokens(v: number | null): void {
    this.#maxTokens = v;
  }

  /** The current params object's size as written. */
  paramsBytes(n: number): void {
    this.#bytes = n;
  }

  /** An element of the `requests` array begins. */
  element(): void {
    this.#elemParams = 0;
  }

  /** An element, or the `requests` value, is not an object: not a batch JSON.parse would take. */
  notAnObject(): void {
    this.#reqsBad = true;
  }

  /** An element ended: its request joins its group. */
  endElement(): void {
    if (this.#elemParams !== 1) {
      this.#reqsBad = true;
      return;
    }
    this.#requests++;
    if (this.#requests > this.#maxRequests) {
      this.#tooMany = true;
      return;
    }
    const model = this.#model;
    let id = model === null ? -1 : this.#models.get(model);
    if (id === undefined) {
      if (this.#models.size >= this.#maxModels) {
        this.#tooMany = true;
        return;
      }
      id = this.#models.size;
      this.#models.set(model as string, id);
    }
    // Keyed by the model's number, not its name: a group costs the same whatever the model's length.
    const key = `${id} ${this.#maxTokens}`;
    let g = this.#groups.get(key);
    if (g === undefined) {
      if (this.#groups.size >= this.#maxGroups) {
        this.#tooMany = true;
        return;
      }
      g = { model, maxTokens: this.#maxTokens, count: 0, bytes: 0 };
      this.#groups.set(key, g);
    }
    g.count++;
    g.bytes += this.#bytes;
  }
}
