/**
 * What Anthropic's Admin API answers mean (the usage report, the cost report, the API key list):
 * one page of each, read into plain rows and checked against the documented shape. Pure: the
 * requests, pagination and retries are report/admin-client.ts. A page that is not the documented
 * shape throws AdminShapeError naming the first field that is not, so `reconcile` never prints a
 * table built from a page it did not understand.
 */
import { isCount } from '../../core/usage.ts';

export class AdminShapeError extends Error {}

/** One row of the usage report: tokens of one (bucket, model, key, tier, context window, geo). */
export interface UsageReportRow {
  /** Bucket start and end, epoch ms. */
  start: number;
  end: number;
  model: string;
  /** Null: traffic with no API key (the Console's Workbench). */
  apiKeyId: string | null;
  serviceTier: string | null;
  contextWindow: string | null;
  inferenceGeo: string | null;
  input: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  output: number;
  webSearchRequests: number;
}

/** One row of the cost report: an amount in exact pico-USD. */
export interface CostReportRow {
  start: number;
  end: number;
  picoUsd: bigint;
  costType: string | null;
  model: string | null;
  serviceTier: string | null;
  description: string | null;
}

export interface ApiKeyRow {
  id: string;
  name: string;
  status: string;
  /** `sk-ant-api03-R2D...igAA`: what the proxy keeps of a key (key-hint.ts). */
  partialKeyHint: string | null;
}

export interface Page<T> {
  rows: T[];
  /** The token for the next page; null on the last. */
  next: string | null;
}

type Json = Record<string, unknown>;

function object(v: unknown, at: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AdminShapeError(`${at} is not an object`);
  return v as Json;
}

function array(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v)) throw new AdminShapeError(`${at} is not an array`);
  return v;
}

function time(v: unknown, at: string): number {
  const t = typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(t)) throw new AdminShapeError(`${at} is not an RFC 3339 time`);
  return t;
}

/** A count, 0 when absent or null (a report leaves out what it has none of). */
function count(o: Json, key: string, at: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (!isCount(v)) throw new AdminShapeError(`${at}.${key} is not a count`);
  return v;
}

function text(o: Json, key: string, at: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new AdminShapeError(`${at}.${key} is not a string`);
  return v;
}

/** `has_more` and `next_page`: a page that says there is more must say where. */
function nextPage(o: Json, tokenKey: string): string | null {
  if (typeof o['has_more'] !== 'boolean') throw new AdminShapeError('has_more is not a boolean');
  if (!o['has_more']) return null;
  const next = o[tokenKey];
  if (typeof next !== 'string' || next === '') throw new AdminShapeError(`has_more is true but ${tokenKey} is missing`);
  return next;
}

/** Buckets of `{starting_at, ending_at, results: [...]}`, each result read by `row`. */
function buckets<T>(body: unknown, row: (r: Json, start: number, end: number, at: string) => T): Page<T> {
  const o = object(body, 'the page');
  const rows: T[] = [];
  array(o['data'], 'data').forEach((b, i) => {
    const bucket = object(b, `data[${i}]`);
    const start = time(bucket['starting_at'], `data[${i}].starting_at`);
    const end = time(bucket['ending_at'], `data[${i}].ending_at`);
    if (!(end > start)) throw new AdminShapeError(`data[${i}] ends before it starts`);
    array(bucket['results'], `data[${i}].results`).forEach((r, j) => {
      const at = `data[${i}].results[${j}]`;
      rows.push(row(object(r, at), start, end, at));
    });
  });
  return { rows, next: nextPage(o, 'next_page') };
}

export function parseUsagePage(body: unknown): Page<UsageReportRow> {
  return buckets(body, (r, start, end, at) => {
    const cache =
      r['cache_creation'] === undefined || r['cache_creation'] === null ? {} : object(r['cache_creation'], `${at}.cache_creation`);
    const tools =
      r['server_tool_use'] === undefined || r['server_tool_use'] === null ? {} : object(r['server_tool_use'], `${at}.server_tool_use`);
    const model = text(r, 'model', at);
    if (model === null) throw new AdminShapeError(`${at}.model is missing: reconcile groups by model`);
    return {
      start,
      end,
      model,
      apiKeyId: text(r, 'api_key_id', at),
      serviceTier: text(r, 'service_tier', at),
      contextWindow: text(r, 'context_window', at),
      inferenceGeo: text(r, 'inference_geo', at),
      input: count(r, 'uncached_input_tokens', at),
      cacheWrite5m: count(cache, 'ephemeral_5m_input_tokens', `${at}.cache_creation`),
      cacheWrite1h: count(cache, 'ephemeral_1h_input_tokens', `${at}.cache_creation`),
      cacheRead: count(r, 'cache_read_input_tokens', at),
      output: count(r, 'output_tokens', at),
      webSearchRequests: count(tools, 'web_search_requests', `${at}.server_tool_use`),
    };
  });
}

/** Cents as a decimal string ("123.45" is $1.2345), at most 10 decimals (a pico-USD). */
const CENTS = /^(\d{1,15})(?:\.(\d{1,10}))?$/;

/** Exact pico-USD of a cost report `amount` (a decimal string of cents). */
export function centsToPico(amount: string): bigint | null {
  const m = CENTS.exec(amount);
  if (m === null) return null;
  return BigInt(m[1] ?? '0') * 10_000_000_000n + BigInt((m[2] ?? '').padEnd(10, '0'));
}

export function parseCostPage(body: unknown): Page<CostReportRow> {
  return buckets(body, (r, start, end, at) => {
    const currency = text(r, 'currency', at);
    if (currency !== null && currency !== 'USD') throw new AdminShapeError(`${at}.currency is ${currency}, not USD`);
    const amount = r['amount'];
    const picoUsd = typeof amount === 'string' ? centsToPico(amount) : null;
    if (picoUsd === null) throw new AdminShapeError(`${at}.amount is not a decimal string of cents`);
    return {
      start,
      end,
      picoUsd,
      costType: text(r, 'cost_type', at),
      model: text(r, 'model', at),
      serviceTier: text(r, 'service_tier', at),
      description: text(r, 'description', at),
    };
  });
}

export function parseApiKeysPage(body: unknown): Page<ApiKeyRow> {
  const o = object(body, 'the page');
  const rows = array(o['data'], 'data').map((k, i) => {
    const at = `data[${i}]`;
    const key = object(k, at);
    const id = text(key, 'id', at);
    if (id === null) throw new AdminShapeError(`${at}.id is missing`);
    return {
      id,
      name: text(key, 'name', at) ?? '',
      status: text(key, 'status', at) ?? '',
      partialKeyHint: text(key, 'partial_key_hint', at),
    };
  });
  return { rows, next: nextPage(o, 'last_id') };
}
