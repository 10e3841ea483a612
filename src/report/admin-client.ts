/**
 * Reads Anthropic's Admin API (the usage report, the cost report, the API key list) with an admin
 * key: every page, following `has_more`, and waiting out a 429 by its `retry-after` a bounded
 * number of times. Anything else that goes wrong (a refused key, a page that is not the documented
 * shape, a broken pagination, no connection) is one AdminApiError with one line to print: a
 * caller gets every row or an error, never part of a report that looks whole.
 */
import {
  AdminShapeError,
  parseApiKeysPage,
  parseCostPage,
  parseUsagePage,
  type ApiKeyRow,
  type CostReportRow,
  type Page,
  type UsageReportRow,
} from '../api/anthropic/admin.ts';
import { VERSION } from '../version.ts';

export const DEFAULT_ADMIN_URL = 'https://api.anthropic.com';
/** 429s in a row on one request before giving up. */
export const MAX_RATE_LIMITED = 4;
/** The longest `retry-after` waited; a longer one gives up at once and says how long. */
export const MAX_RETRY_AFTER_S = 60;
/** Without a usable `retry-after`. */
const DEFAULT_RETRY_AFTER_S = 5;
/** Pages of one listing, at most: a server that never stops paginating cannot keep us forever. */
const MAX_PAGES = 500;
/** Bytes of one response body, at most. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const TIMEOUT_MS = 60_000;

export class AdminApiError extends Error {}

export interface AdminClientOptions {
  /** Origin of the Admin API (`--api-url`, `ANTHROPIC_ADMIN_URL`). */
  url: string;
  /** The admin key (`sk-ant-admin01-…`). */
  key: string;
  /** Waits out a 429; tests pass one that records the wait instead of sleeping. */
  sleep(ms: number): Promise<void>;
  fetch?: typeof fetch;
}

/** One usage report query: [from, to) in epoch ms, by day or hour. */
export interface UsageQuery {
  from: number;
  to: number;
  width: '1d' | '1h';
}

const USAGE_GROUPS = ['model', 'api_key_id', 'service_tier', 'context_window', 'inference_geo'];

export class AdminClient {
  readonly #o: AdminClientOptions;
  readonly #fetch: typeof fetch;
  readonly #base: URL;

  constructor(o: AdminClientOptions) {
    this.#o = o;
    this.#fetch = o.fetch ?? fetch;
    this.#base = new URL(o.url);
  }

  /** Every row of the messages usage report, grouped by model, key, tier, context window and geo. */
  usage(q: UsageQuery): Promise<UsageReportRow[]> {
    const params: Array<[string, string]> = [
      ['starting_at', iso(q.from)],
      ['ending_at', iso(q.to)],
      ['bucket_width', q.width],
      ...USAGE_GROUPS.map((g): [string, string] => ['group_by[]', g]),
      // The largest page each width allows.
      ['limit', q.width === '1d' ? '31' : '168'],
    ];
    return this.#all('the usage report', '/v1/organizations/usage_report/messages', params, 'page', parseUsagePage);
  }

  /** Every row of the cost report, by day. */
  cost(from: number, to: number): Promise<CostReportRow[]> {
    const params: Array<[string, string]> = [
      ['starting_at', iso(from)],
      ['ending_at', iso(to)],
      ['bucket_width', '1d'],
      ['limit', '31'],
    ];
    return this.#all('the cost report', '/v1/organizations/cost_report', params, 'page', parseCostPage);
  }

  /** Every API key of the organization. */
  apiKeys(): Promise<ApiKeyRow[]> {
    return this.#all('the API key list', '/v1/organizations/api_keys', [['limit', '100']], 'after_id', parseApiKeysPage);
  }

  async #all<T>(
    what: string,
    path: string,
    params: ReadonlyArray<[string, string]>,
    tokenParam: string,
    parse: (body: unknown) => Page<T>,
  ): Promise<T[]> {
    const rows: T[] = [];
    const seen = new Set<string>();
    let token: string | null = null;
    for (let n = 1; ; n++) {
      if (n > MAX_PAGES) throw new AdminApiError(`${what} did not end after ${MAX_PAGES} pages`);
      const url = new URL(path, this.#base);
      for (const [k, v] of params) url.searchParams.append(k, v);
      if (token !== null) url.searchParams.set(tokenParam, token);
      const body = await this.#get(what, n, url);
      let page: Page<T>;
      try {
        page = parse(body);
      } catch (err) {
        if (!(err instanceof AdminShapeError)) throw err;
        throw new AdminApiError(`${what}, page ${n}, is not the documented shape: ${err.message}`);
      }
      rows.push(...page.rows);
      if (page.next === null) return rows;
      if (seen.has(page.next)) throw new AdminApiError(`${what}, page ${n}, points back at a page already read`);
      seen.add(page.next);
      token = page.next;
    }
  }

  async #get(what: string, n: number, url: URL): Promise<unknown> {
    for (let limited = 0; ; ) {
      let res: Response;
      try {
        res = await this.#fetch(url, {
          headers: {
            'x-api-key': this.#o.key,
            'anthropic-version': '2023-06-01',
            'user-agent': `claude-meter/${VERSION} (reconcile)`,
          },
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
      } catch (err) {
        throw new AdminApiError(`cannot reach the Admin API at ${this.#base.origin}: ${reason(err)}`);
      }
      const text = await readBounded(res).catch((err: unknown) => {
        throw new AdminApiError(`${what}, page ${n}: the answer could not be read: ${reason(err)}`);
      });
      if (res.status === 429) {
        limited += 1;
        const wait = retryAfterSeconds(res.headers.get('retry-after'));
        if (wait > MAX_RETRY_AFTER_S) {
          throw new AdminApiError(
            `the Admin API is rate limiting (429) and asks to wait ${wait} s, longer than reconcile waits; try again later`,
          );
        }
        if (limited >= MAX_RATE_LIMITED) {
          throw new AdminApiError(
            `the Admin API is rate limiting (429, ${limited} times in a row on ${what}, page ${n}); try again in a minute`,
          );
        }
        await this.#o.sleep(wait * 1000);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        throw new AdminApiError(
          `the Admin API refused the admin key (HTTP ${res.status}${errorDetail(text)}): ANTHROPIC_ADMIN_KEY must be an admin key (sk-ant-admin01-…) of the organization`,
        );
      }
      if (res.status < 200 || res.status > 299) {
        throw new AdminApiError(`the Admin API answered HTTP ${res.status} for ${what}, page ${n}${errorDetail(text)}`);
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new AdminApiError(`${what}, page ${n}, is not JSON`);
      }
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}

/** `retry-after` in whole seconds (a number of seconds, or an HTTP date is not sent by this API). */
function retryAfterSeconds(h: string | null): number {
  const s = h === null ? Number.NaN : Number(h.trim());
  return Number.isFinite(s) && s >= 0 ? Math.ceil(s) : DEFAULT_RETRY_AFTER_S;
}

/** `: authentication_error: invalid x-api-key` from the documented error body, bounded; '' otherwise. */
function errorDetail(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: { type?: unknown; message?: unknown } }).error;
    const type = typeof e?.type === 'string' ? e.type : '';
    const message = typeof e?.message === 'string' ? e.message : '';
    const detail = [type, message].filter(Boolean).join(': ').replace(/\s+/g, ' ').slice(0, 200);
    return detail === '' ? '' : `: ${detail}`;
  } catch {
    return '';
  }
}

async function readBounded(res: Response): Promise<string> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new Error(`larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
