/** Shared by the OpenAI dialect's tests: its fixtures, and a tap run the way the proxy runs one. */
import { readFileSync } from 'node:fs';
import { openaiDialect } from '../../../src/api/openai/index.ts';
import { SemanticsProof } from '../../../src/api/openai/semantics.ts';
import type { Dialect } from '../../../src/core/dialect.ts';
import type { RequestFacts } from '../../../src/core/request.ts';
import type { UsageSemantics } from '../../../src/core/usage.ts';
import { UsageTap, type FinishHow } from '../../../src/usage/tap.ts';
import { DECODE_LIMITS, JSON_HEADERS, SSE_HEADERS } from '../usage/helpers.ts';

export { JSON_HEADERS, SSE_HEADERS };

const FIXTURES = new URL('../../fixtures/openai/', import.meta.url);

export function fixture(name: string): Buffer {
  return readFileSync(new URL(name, FIXTURES));
}

export function fixtureJson(name: string): unknown {
  return JSON.parse(fixture(name).toString('utf8'));
}

/** A dialect with its own fresh proof (or the one given). */
export function dialect(semantics: UsageSemantics, proof: SemanticsProof = new SemanticsProof(), includeUsage = true): Dialect {
  return openaiDialect({ semantics, includeUsage, proof });
}

/** Request facts of a streamed request of `bytes` bytes. */
export function streamRequest(bytes: number): RequestFacts {
  return { model: 'gpt-5.6', stream: true, maxTokens: null, bytes, parsed: true };
}

export interface OpenAiTapRun {
  dialect: Dialect;
  chunks: readonly Uint8Array[];
  path?: string;
  status?: number;
  headers?: Record<string, string>;
  how?: FinishHow;
  request?: RequestFacts | null;
  maxSseEventBytes?: number;
}

/** Feeds a response through a fresh tap, as the exchange does. */
export async function runOpenAiTap(run: OpenAiTapRun): Promise<{ tap: UsageTap; outcome: Awaited<ReturnType<UsageTap['finish']>> }> {
  const tap = new UsageTap({
    dialect: run.dialect,
    route: run.dialect.route('POST', run.path ?? '/v1/chat/completions'),
    maxJsonBodyBytes: 1024 * 1024,
    maxSseEventBytes: run.maxSseEventBytes ?? 256 * 1024,
    request: run.request ?? null,
    ...DECODE_LIMITS,
  });
  tap.onResponseStart(run.status ?? 200, run.headers ?? SSE_HEADERS);
  for (const c of run.chunks) tap.onData(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  const outcome = await tap.finish(run.how ?? 'complete');
  return { tap, outcome };
}
