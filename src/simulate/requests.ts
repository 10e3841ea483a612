/**
 * A normalized series file (the forms of data/README.md) as a time-ordered stream of
 * simulated requests, for `claude-meter simulate`. Pure: text in, requests out.
 *
 *  - per-request CSVs map 1:1 (timestamp, tokens); an empty token column gets the defaults;
 *  - aggregated CSVs expand each window's `requests` evenly across the window (deterministic),
 *    with the window's mean tokens per request: token sums ÷ token_covered_requests when that
 *    column is set (ServeGen sums cover only some clients), else ÷ requests; windows without
 *    tokens (BurstGPT) get DEFAULT_TOKENS per request.
 *
 * Scale F (0 < F ≤ 1): F × the requests are simulated, each carrying the tokens of the 1/F
 * requests it stands for, so spend (and every budget decision in USD) stays faithful while
 * provider-scale traces (ServeGen: up to ~600k requests per 10 min) stay tractable. By
 * default F = 1, or MAX_SIMULATED / requests (2 significant digits, rounded down) above that.
 */
import { SeriesInputError, num, optNum } from '../forecast/eval/csv.ts';
import { DAY_MS } from '../core/time.ts';

export interface SimRequest {
  ts: number;
  model: string;
  inputTokens: number;
  outputTokens: number;
  keyId: string;
  tag: string;
}

/** Per request when the source has no token counts: a typical chat turn (documented in README). */
export const DEFAULT_TOKENS = Object.freeze({ input: 1_000, output: 200 });
/**
 * Default scale keeps a run under this many simulated requests: well under a minute, even
 * where the memory stores' bounded id sets make each admitted request cost ~100 µs.
 */
export const MAX_SIMULATED = 500_000;

const PER_REQUEST = 'timestamp_ms,model,input_tokens,output_tokens';
const AGGREGATED = 'window_start_ms,window_ms,model,requests,input_tokens,output_tokens,token_covered_requests';

export interface PlanOptions {
  /** Keep only rows with this source label (all labels are summed otherwise). */
  model?: string;
  /** The priced Claude model every request is billed as. */
  modelAs: string;
  scale?: number;
  /** Days since the series' day 0 (the UTC midnight at or before its first row). */
  fromDay?: number;
  days?: number;
  /** Days before fromDay to emit as history (the forecaster's warm-up); they are not admitted. */
  historyDays?: number;
  keyId?: string;
  tag?: string;
}

/** One source window (or one request: ms = 0), token totals already resolved. */
interface Chunk {
  start: number;
  ms: number;
  requests: number;
  input: number;
  output: number;
}

export interface Plan {
  form: 'per-request' | 'aggregated';
  /** Every source label in the file, sorted. */
  models: string[];
  day0: number;
  /** History starts here; admission is simulated over [from, to). */
  historyFrom: number;
  from: number;
  to: number;
  /** Source requests in [historyFrom, to) and how many the scale turns them into (about). */
  sourceRequests: number;
  scale: number;
  /** True when some rows had no token counts and got DEFAULT_TOKENS. */
  defaultedTokens: boolean;
  requests(): Generator<SimRequest>;
}

export function planRequests(text: string, opts: PlanOptions): Plan {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').trim();
  const form = header === PER_REQUEST ? 'per-request' : header === AGGREGATED ? 'aggregated' : null;
  if (form === null)
    throw new SeriesInputError(`unrecognised CSV header '${header.slice(0, 120)}': expected '${PER_REQUEST}' or '${AGGREGATED}'`);
  const models = new Set<string>();
  const chunks: Chunk[] = [];
  let defaulted = false;
  for (let i = 1; i < lines.length; i++) {
    const f = (lines[i] ?? '').split(',');
    const where = `line ${i + 1}`;
    const label = f[form === 'per-request' ? 1 : 2] ?? '';
    models.add(label);
    if (opts.model !== undefined && label !== opts.model) continue;
    const c = form === 'per-request' ? perRequest(f, where) : aggregated(f, where);
    defaulted ||= c.defaulted;
    if (c.chunk.requests > 0) chunks.push(c.chunk);
  }
  const sorted = [...models].sort();
  if (chunks.length === 0) {
    throw new SeriesInputError(
      opts.model === undefined
        ? 'no requests in the series'
        : `no requests with model '${opts.model}' (models: ${sorted.join(', ') || 'none'})`,
    );
  }
  chunks.sort((a, b) => a.start - b.start); // stable: rows of one window keep file order
  mergeWindows(chunks);
  const day0 = Math.floor((chunks[0]?.start ?? 0) / DAY_MS) * DAY_MS;
  const last = chunks[chunks.length - 1];
  const endDays = last === undefined ? 1 : Math.ceil((last.start + Math.max(1, last.ms) - day0) / DAY_MS);
  const fromDay = opts.fromDay ?? 0;
  if (fromDay >= endDays) throw new SeriesInputError(`--from ${fromDay} is past the series' last day (day ${endDays - 1})`);
  // A slice running past the data is cut at its last day: empty days would only dilute the report.
  const days = Math.min(opts.days ?? endDays, endDays - fromDay);
  const from = day0 + fromDay * DAY_MS;
  const to = from + days * DAY_MS;
  const historyFrom = Math.max(day0, from - (opts.historyDays ?? 0) * DAY_MS);
  const inRange = chunks.filter((c) => c.start >= historyFrom && c.start < to);
  const sourceRequests = inRange.reduce((s, c) => s + c.requests, 0);
  if (sourceRequests === 0) throw new SeriesInputError(`no requests between day ${fromDay} and day ${fromDay + days}`);
  const scale = opts.scale ?? autoScale(sourceRequests);
  if (!(scale > 0 && scale <= 1)) throw new SeriesInputError(`scale must be in (0, 1], got ${scale}`);
  const base = { model: opts.modelAs, keyId: opts.keyId ?? 'sim', tag: opts.tag ?? 'sim' };
  return {
    form,
    models: sorted,
    day0,
    historyFrom,
    from,
    to,
    sourceRequests,
    scale,
    defaultedTokens: defaulted,
    requests: () => expand(inRange, scale, base),
  };
}

/**
 * Rows of one window (several model labels summed) become one chunk, in place: each row's
 * requests spread over the whole window would otherwise come out of time order.
 */
function mergeWindows(chunks: Chunk[]): void {
  let k = 0;
  for (const c of chunks) {
    const prev = k > 0 ? chunks[k - 1] : undefined;
    if (prev !== undefined && c.ms > 0 && prev.start === c.start && prev.ms === c.ms) {
      prev.requests += c.requests;
      prev.input += c.input;
      prev.output += c.output;
    } else chunks[k++] = c;
  }
  chunks.length = k;
}

/** 1, or MAX_SIMULATED / n rounded down to 2 significant digits (printable, and still under the cap). */
export function autoScale(n: number): number {
  if (n <= MAX_SIMULATED) return 1;
  const f = MAX_SIMULATED / n;
  const unit = 10 ** (Math.floor(Math.log10(f)) - 1);
  return Math.floor(f / unit) * unit;
}

/**
 * Deterministic thinning by cumulative rounding: after c source requests, round(c·F) have been
 * emitted. Tokens accumulate until a request is emitted, so each carries what it stands for.
 */
function* expand(chunks: Chunk[], scale: number, base: Omit<SimRequest, 'ts' | 'inputTokens' | 'outputTokens'>): Generator<SimRequest> {
  let seen = 0;
  let emitted = 0;
  let carryIn = 0;
  let carryOut = 0;
  for (const c of chunks) {
    seen += c.requests;
    const n = Math.round(seen * scale) - emitted;
    carryIn += c.input;
    carryOut += c.output;
    if (n <= 0) continue;
    emitted += n;
    // Integer tokens (the pricer refuses fractions); the remainder goes to the first few.
    const inTot = Math.round(carryIn);
    const outTot = Math.round(carryOut);
    carryIn -= inTot;
    carryOut -= outTot;
    for (let j = 0; j < n; j++) {
      yield {
        ...base,
        ts: c.start + Math.floor(((j + 0.5) * c.ms) / n),
        inputTokens: Math.floor(inTot / n) + (j < inTot % n ? 1 : 0),
        outputTokens: Math.floor(outTot / n) + (j < outTot % n ? 1 : 0),
      };
    }
  }
}

function perRequest(f: string[], where: string): { chunk: Chunk; defaulted: boolean } {
  const input = optNum(f[2], 'input_tokens', where);
  const output = optNum(f[3], 'output_tokens', where);
  const defaulted = input === null || output === null;
  const chunk = {
    start: num(f[0], 'timestamp_ms', where),
    ms: 0,
    requests: 1,
    input: input ?? DEFAULT_TOKENS.input,
    output: output ?? DEFAULT_TOKENS.output,
  };
  return { chunk, defaulted };
}

function aggregated(f: string[], where: string): { chunk: Chunk; defaulted: boolean } {
  const requests = num(f[3], 'requests', where);
  const ms = num(f[1], 'window_ms', where);
  if (!(ms > 0)) throw new SeriesInputError(`${where}: window_ms must be > 0`);
  const input = optNum(f[4], 'input_tokens', where);
  const output = optNum(f[5], 'output_tokens', where);
  const covered = optNum(f[6], 'token_covered_requests', where);
  const defaulted = input === null || output === null || covered === 0;
  // Mean tokens of the requests the sums cover, applied to all the window's requests.
  const per = covered !== null && covered > 0 ? covered : requests;
  const meanIn = defaulted || per === 0 ? DEFAULT_TOKENS.input : (input ?? 0) / per;
  const meanOut = defaulted || per === 0 ? DEFAULT_TOKENS.output : (output ?? 0) / per;
  const chunk = {
    start: num(f[0], 'window_start_ms', where),
    ms,
    requests: Math.round(requests),
    input: meanIn * requests,
    output: meanOut * requests,
  };
  return { chunk, defaulted: defaulted && requests > 0 };
}
