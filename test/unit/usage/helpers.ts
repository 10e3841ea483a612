import { readFileSync } from 'node:fs';
import { UsageTap, type FinishHow, type TapOptions } from '../../../src/usage/tap.ts';
import { anthropic } from '../../../src/api/anthropic/index.ts';
import { emptyUsage, type Usage, type UsageOutcome } from '../../../src/core/usage.ts';

const FIXTURES = new URL('../../fixtures/', import.meta.url);

export function sseFixture(name: string): Buffer {
  return readFileSync(new URL(`sse/${name}`, FIXTURES));
}

export function jsonFixture(name: string): Buffer {
  return readFileSync(new URL(`json/${name}`, FIXTURES));
}

/** The tap's decompression bounds at their config defaults. */
export const DECODE_LIMITS = { maxDecompressedBytes: 64 * 1024 * 1024, maxDecompressionRatio: 100 } as const;

export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8' } as const;
export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

export interface TapRun {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  chunks: readonly Uint8Array[];
  how?: FinishHow;
  /** Tap options; `method` and `path` are classified by the Anthropic dialect, as the pipeline does. */
  opts?: Partial<TapOptions> & { method?: string; path?: string };
}

/** Feeds a response through a fresh tap, the way the proxy does, and returns the outcome. */
export async function runTap(run: TapRun): Promise<{ outcome: UsageOutcome; tap: UsageTap }> {
  const { method = 'POST', path = '/v1/messages', ...opts } = run.opts ?? {};
  const tap = new UsageTap({
    dialect: anthropic,
    route: anthropic.route(method, path),
    requestModel: 'claude-request-model',
    maxJsonBodyBytes: 1024 * 1024,
    maxSseEventBytes: 256 * 1024,
    ...DECODE_LIMITS,
    ...opts,
  });
  tap.onResponseStart(run.status ?? 200, run.headers ?? SSE_HEADERS);
  for (const c of run.chunks) tap.onData(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  const outcome = await tap.finish(run.how ?? 'complete');
  return { outcome, tap };
}

/** Splits `bytes` at the given cut points (any order, duplicates and out-of-range allowed). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(bytes.length, c))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

export function usage(fields: Partial<Usage>): Usage {
  return { ...emptyUsage(), ...fields };
}

export function outcome(fields: Partial<UsageOutcome>): UsageOutcome {
  return {
    usage: null,
    model: null,
    missingReason: null,
    partial: false,
    estimated: false,
    errorType: null,
    stopReason: null,
    messageId: null,
    adjusted: null,
    ...fields,
  };
}

/** The usage recorded in fixtures/json/message-cache-split.json (every field of the full Usage object). */
export const CACHE_SPLIT_USAGE: Usage = usage({
  input: 21,
  output: 393,
  cacheCreation: 188086,
  cacheCreation5m: 68086,
  cacheCreation1h: 120000,
  cacheRead: 16384,
  webSearchRequests: 3,
  webFetchRequests: 2,
  serviceTier: 'priority',
  inferenceGeo: 'us',
  speed: 'fast',
});
