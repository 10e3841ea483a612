import type { Counter, Registry } from 'prom-client';
import { picoToUnits } from '../core/money.ts';
import { TOKEN_KINDS } from '../core/usage.ts';

/** What the Registry reads from a metric object (prom-client's own shape). */
interface Exported {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: Array<{
    labels: Record<string, string | number>;
    sharedLabels?: Record<string, string>;
    exemplar?: null;
    value: number;
    metricName: string;
  }>;
}

/**
 * The per-request metrics (requests, tokens, latency and TTFT histograms) counted in plain
 * numbers on the request path and handed to prom-client only when /metrics is scraped.
 * "Series" here means Prometheus series (one label set); forecast/series.ts holds time series.
 *
 * Why not prom-client's inc()/observe() per request: each call validates the labels, builds
 * a hash string from them and looks it up, and a request touches up to seven series (2.4 µs
 * per request in a tight loop against 0.07 µs here: bench/metrics-record.ts). Here a request costs one
 * Map lookup by upstream, one by model, one by status, and a bucket search. The exposition is prom-client's
 * own: counters are fed into its Counter at collect(), histograms are a metric object the
 * Registry formats like its own Histogram (same names, labels, order and `le` values).
 */

export interface HistogramCounts {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound (+Inf only). */
  counts: number[];
  sum: number;
  count: number;
}

/** Everything one (upstream, model) label pair has counted. */
export interface ModelSeries {
  model: string;
  upstream: string;
  /** By request label set (status, plus key and tag when enabled), joined with \0. */
  requests: Map<string, { labels: Record<string, string>; value: number }>;
  /** `tokens[i]` counts TOKEN_KINDS[i] (core/usage.ts), which is also the exposition order. */
  tokens: number[];
  duration: HistogramCounts;
  ttft: HistogramCounts;
  /** What the upstream billed, exact pico-units by currency code (claude_meter_billed_cost_total). */
  billedPico: Map<string, bigint>;
}

export class RequestSeries {
  readonly durationBounds: readonly number[];
  readonly ttftBounds: readonly number[];
  /** By upstream, then model: two lookups and no key string built per request. */
  readonly #byUpstream = new Map<string, Map<string, ModelSeries>>();

  constructor(durationBounds: readonly number[], ttftBounds: readonly number[]) {
    this.durationBounds = durationBounds;
    this.ttftBounds = ttftBounds;
  }

  /** The series of one upstream and model label, created on first use. */
  of(upstream: string, model: string): ModelSeries {
    let byModel = this.#byUpstream.get(upstream);
    if (byModel === undefined) this.#byUpstream.set(upstream, (byModel = new Map()));
    let s = byModel.get(model);
    if (s === undefined) {
      s = {
        model,
        upstream,
        requests: new Map(),
        tokens: TOKEN_KINDS.map(() => 0),
        duration: emptyCounts(this.durationBounds),
        ttft: emptyCounts(this.ttftBounds),
        billedPico: new Map(),
      };
      byModel.set(model, s);
    }
    return s;
  }

  *all(): IterableIterator<ModelSeries> {
    for (const byModel of this.#byUpstream.values()) yield* byModel.values();
  }

  reset(): void {
    this.#byUpstream.clear();
  }
}

export function emptyCounts(bounds: readonly number[]): HistogramCounts {
  return { counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 };
}

/** Prometheus `le` semantics: a value equal to a bound falls in that bound's bucket. */
export function observe(h: HistogramCounts, bounds: readonly number[], value: number): void {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  h.counts[i]! += 1;
  h.sum += value;
  h.count += 1;
}

/** Counter collect(): the tallies replace the counter's values (reset, then one inc per series). */
export function feedRequests(counter: Counter<string>, series: RequestSeries): void {
  counter.reset();
  for (const s of series.all()) for (const r of s.requests.values()) counter.inc(r.labels, r.value);
}

export function feedTokens(counter: Counter<string>, series: RequestSeries): void {
  counter.reset();
  for (const s of series.all()) {
    TOKEN_KINDS.forEach((kind, i) => {
      const n = s.tokens[i]!;
      if (n > 0) counter.inc({ model: s.model, upstream: s.upstream, kind }, n);
    });
  }
}

/** The billed amounts, exact until here: the nearest double of each exact total, in units of its currency. */
export function feedBilled(counter: Counter<string>, series: RequestSeries): void {
  counter.reset();
  for (const s of series.all()) {
    for (const [currency, pico] of s.billedPico) counter.inc({ model: s.model, upstream: s.upstream, currency }, picoToUnits(pico));
  }
}

/**
 * A histogram by model and upstream, read from RequestSeries at scrape time. Registered on the Registry
 * as a metric object (name, help, type, get()), which the Registry formats exactly as it
 * formats prom-client's own Histogram: `_bucket{le=…,model=…}` cumulative, `+Inf`, `_sum`, `_count`.
 */
export class ModelHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #series: RequestSeries;
  readonly #pick: (s: ModelSeries) => HistogramCounts;
  readonly #bounds: readonly number[];

  constructor(opts: {
    name: string;
    help: string;
    series: RequestSeries;
    bounds: readonly number[];
    pick: (s: ModelSeries) => HistogramCounts;
    registry: Registry;
  }) {
    this.name = opts.name;
    this.help = opts.help;
    this.#series = opts.series;
    this.#bounds = opts.bounds;
    this.#pick = opts.pick;
    opts.registry.registerMetric(this as never);
  }

  /** The Registry's text format path: labels {le} first, the model and upstream as shared labels (prom-client's layout). */
  getForPromString(): Exported {
    return this.#values((le, model) => ({ labels: le, sharedLabels: model }));
  }

  /** JSON form (getMetricsAsJSON): labels merged, as prom-client's Histogram.get() returns them. */
  get(): Exported {
    return this.#values((le, model) => ({ labels: { ...le, ...model }, ...('le' in le ? { exemplar: null } : {}) }));
  }

  /** Registry.resetMetrics(): the numbers live in RequestSeries, shared by the four families, so all four reset. */
  reset(): void {
    this.#series.reset();
  }

  #values(
    shape: (
      le: Record<string, string | number>,
      model: Record<string, string>,
    ) => { labels: Record<string, string | number>; sharedLabels?: Record<string, string>; exemplar?: null },
  ): Exported {
    const values: Exported['values'] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series.all()) {
      const h = this.#pick(s);
      if (h.count === 0) continue;
      const model = { model: s.model, upstream: s.upstream };
      let acc = 0;
      this.#bounds.forEach((le, i) => {
        acc += h.counts[i]!;
        values.push({ ...shape({ le }, model), value: acc, metricName: bucket });
      });
      values.push({ ...shape({ le: '+Inf' }, model), value: h.count, metricName: bucket });
      values.push({ ...shape({}, model), value: h.sum, metricName: `${this.name}_sum` });
      values.push({ ...shape({}, model), value: h.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
}
