/**
 * A mock of Anthropic's Admin API on a real socket (port 0), speaking the documented shapes: the
 * messages usage report (buckets of 1d or 1h, results grouped by the `group_by[]` asked, `has_more`
 * and `next_page`), the cost report (amounts as decimal strings of cents), the API key list
 * (`after_id` pagination), and the documented error bodies (401 for a wrong key, 429 with
 * `retry-after`). Usage is given as events at a time; the mock buckets and groups them, and leaves
 * out what has not landed yet (events less than `landingMs` before `now`), as the real API does.
 * A test can answer one page of a listing with anything else (a 429, a malformed page) first.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface UsageEvent {
  at: number;
  model: string;
  api_key_id: string | null;
  workspace_id?: string | null;
  service_tier?: string;
  context_window?: string;
  inference_geo?: string;
  uncached_input_tokens?: number;
  cache_creation_5m?: number;
  cache_creation_1h?: number;
  cache_read_input_tokens?: number;
  output_tokens?: number;
  web_search_requests?: number;
}

export interface CostEvent {
  at: number;
  /** Cents, as the API writes them: a decimal string. */
  amount: string;
  model?: string | null;
  cost_type?: string;
  token_type?: string | null;
  service_tier?: string | null;
  description?: string;
}

export interface MockApiKey {
  id: string;
  name: string;
  partial_key_hint: string;
  status?: string;
}

type Listing = 'usage' | 'cost' | 'keys';

export interface Injected {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export interface AdminRequest {
  listing: Listing | null;
  page: number;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

export interface MockAdminApi {
  url: string;
  key: string;
  usage: UsageEvent[];
  cost: CostEvent[];
  apiKeys: MockApiKey[];
  /** The mock's present: nothing after it exists, nothing in the `landingMs` before it has landed. */
  now: number;
  landingMs: number;
  /** Buckets (or keys) per page: small, so every listing paginates. */
  perPage: number;
  requests: AdminRequest[];
  /** Answers page `page` (1-based) of `listing` with `answer`, `times` times, before its real answer. */
  inject(listing: Listing, page: number, answer: Injected, times?: number): void;
  close(): Promise<void>;
}

const USAGE_PATH = '/v1/organizations/usage_report/messages';
const COST_PATH = '/v1/organizations/cost_report';
const KEYS_PATH = '/v1/organizations/api_keys';
const WIDTH: Record<string, number> = { '1d': 86_400_000, '1h': 3_600_000, '1m': 60_000 };

const token = (page: number, at: number) => `page_${Buffer.from(JSON.stringify({ page, at })).toString('base64url')}`;
function untoken(t: string | null): { page: number; at: number } | null {
  if (t === null || !t.startsWith('page_')) return null;
  return JSON.parse(Buffer.from(t.slice(5), 'base64url').toString()) as { page: number; at: number };
}
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

function error(res: http.ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_mock', ...headers });
  res.end(JSON.stringify({ type: 'error', error: { type, message } }));
}

export async function startMockAdminApi(t?: TestContext, key = 'sk-ant-admin01-mock-key'): Promise<MockAdminApi> {
  const injected = new Map<string, Injected[]>();
  const mock: MockAdminApi = {
    url: '',
    key,
    usage: [],
    cost: [],
    apiKeys: [],
    now: Date.now(),
    landingMs: 5 * 60_000,
    perPage: 2,
    requests: [],
    inject(listing, page, answer, times = 1) {
      const k = `${listing}#${page}`;
      injected.set(k, [...(injected.get(k) ?? []), ...Array.from({ length: times }, () => answer)]);
    },
    close: async () => {},
  };
  const landed = (at: number) => at < mock.now - mock.landingMs;

  function buckets(res: http.ServerResponse, q: URLSearchParams, page: number, rows: (from: number, to: number) => unknown[]): void {
    const width = WIDTH[q.get('bucket_width') ?? '1d'];
    const from = Date.parse(q.get('starting_at') ?? '');
    const to = q.has('ending_at') ? Date.parse(q.get('ending_at') ?? '') : mock.now;
    if (width === undefined || !Number.isFinite(from) || !Number.isFinite(to)) {
      error(res, 400, 'invalid_request_error', 'starting_at, ending_at or bucket_width is invalid');
      return;
    }
    const first = untoken(q.get('page'))?.at ?? Math.floor(from / width) * width;
    const data: unknown[] = [];
    let s = first;
    for (; s < to && data.length < mock.perPage; s += width) {
      data.push({ starting_at: iso(s), ending_at: iso(s + width), results: rows(s, Math.min(s + width, to)) });
    }
    const more = s < to;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ data, has_more: more, next_page: more ? token(page + 1, s) : null }));
  }

  function usageRows(q: URLSearchParams) {
    const groups = new Set(q.getAll('group_by[]'));
    return (from: number, to: number) => {
      const out = new Map<string, Record<string, unknown>>();
      for (const e of mock.usage) {
        if (e.at < from || e.at >= to || !landed(e.at)) continue;
        const dims = {
          model: groups.has('model') ? e.model : null,
          api_key_id: groups.has('api_key_id') ? e.api_key_id : null,
          workspace_id: groups.has('workspace_id') ? (e.workspace_id ?? null) : null,
          service_tier: groups.has('service_tier') ? (e.service_tier ?? 'standard') : null,
          context_window: groups.has('context_window') ? (e.context_window ?? '0-200k') : null,
          inference_geo: groups.has('inference_geo') ? (e.inference_geo ?? 'global') : null,
        };
        const k = JSON.stringify(dims);
        let r = out.get(k);
        if (r === undefined) {
          r = {
            uncached_input_tokens: 0,
            cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
            cache_read_input_tokens: 0,
            output_tokens: 0,
            server_tool_use: { web_search_requests: 0 },
            ...dims,
          };
          out.set(k, r);
        }
        const cc = r['cache_creation'] as Record<string, number>;
        const tools = r['server_tool_use'] as Record<string, number>;
        r['uncached_input_tokens'] = (r['uncached_input_tokens'] as number) + (e.uncached_input_tokens ?? 0);
        cc['ephemeral_5m_input_tokens'] = (cc['ephemeral_5m_input_tokens'] ?? 0) + (e.cache_creation_5m ?? 0);
        cc['ephemeral_1h_input_tokens'] = (cc['ephemeral_1h_input_tokens'] ?? 0) + (e.cache_creation_1h ?? 0);
        r['cache_read_input_tokens'] = (r['cache_read_input_tokens'] as number) + (e.cache_read_input_tokens ?? 0);
        r['output_tokens'] = (r['output_tokens'] as number) + (e.output_tokens ?? 0);
        tools['web_search_requests'] = (tools['web_search_requests'] ?? 0) + (e.web_search_requests ?? 0);
      }
      return [...out.values()];
    };
  }

  const costRows = (from: number, to: number) =>
    mock.cost
      .filter((c) => c.at >= from && c.at < to && landed(c.at))
      .map((c) => ({
        currency: 'USD',
        amount: c.amount,
        workspace_id: null,
        description: c.description ?? null,
        cost_type: c.cost_type ?? 'tokens',
        context_window: null,
        model: c.model ?? null,
        service_tier: c.service_tier ?? null,
        token_type: c.token_type ?? null,
        inference_geo: null,
      }));

  function keys(res: http.ServerResponse, q: URLSearchParams): void {
    const after = q.get('after_id');
    const start = after === null ? 0 : mock.apiKeys.findIndex((k) => k.id === after) + 1;
    const page = mock.apiKeys.slice(start, start + mock.perPage);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        data: page.map((k) => ({
          id: k.id,
          type: 'api_key',
          name: k.name,
          status: k.status ?? 'active',
          partial_key_hint: k.partial_key_hint,
          workspace_id: null,
          created_at: '2026-01-01T00:00:00Z',
          created_by: { id: 'user_mock', type: 'user' },
        })),
        has_more: start + mock.perPage < mock.apiKeys.length,
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
      }),
    );
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mock');
    const listing: Listing | null =
      url.pathname === USAGE_PATH ? 'usage' : url.pathname === COST_PATH ? 'cost' : url.pathname === KEYS_PATH ? 'keys' : null;
    const page =
      listing === 'keys'
        ? url.searchParams.has('after_id')
          ? Math.floor((mock.apiKeys.findIndex((k) => k.id === url.searchParams.get('after_id')) + 1) / mock.perPage) + 1
          : 1
        : (untoken(url.searchParams.get('page'))?.page ?? 1);
    mock.requests.push({ listing, page, query: url.searchParams, headers: req.headers });
    req.resume();
    if (req.headers['x-api-key'] !== mock.key) return error(res, 401, 'authentication_error', 'invalid x-api-key');
    if (req.headers['anthropic-version'] !== '2023-06-01') return error(res, 400, 'invalid_request_error', 'anthropic-version is required');
    if (listing === null) return error(res, 404, 'not_found_error', 'not found');
    const queue = injected.get(`${listing}#${page}`);
    const answer = queue?.shift();
    if (answer !== undefined) {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body);
      return;
    }
    if (listing === 'usage') return buckets(res, url.searchParams, page, usageRows(url.searchParams));
    if (listing === 'cost') {
      if (url.searchParams.get('bucket_width') !== '1d') return error(res, 400, 'invalid_request_error', 'bucket_width must be 1d');
      return buckets(res, url.searchParams, page, costRows);
    }
    return keys(res, url.searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mock.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t?.after(() => mock.close());
  return mock;
}
