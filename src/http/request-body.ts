import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';

/** What the pipeline needs from a Messages request body, read once. */
export interface RequestFacts {
  model: string | null;
  stream: boolean;
  maxTokens: number | null;
  /** Body size in bytes (input-size estimate for budgets). */
  bytes: number;
  /** False when the body was not JSON we could read; it is still forwarded as-is. */
  parsed: boolean;
}

export interface ReadBody {
  /** The bytes to forward: the whole body, or what was read followed by the rest of the stream. */
  forward: Buffer | Readable;
  facts: RequestFacts;
}

/**
 * Reads a request body we must inspect (model, max_tokens: needed before forwarding
 * for budget admission). Bounded: past `maxBytes` we stop buffering and stream the
 * remainder through unread, so an oversized body costs no memory and the upstream
 * still decides what to answer.
 */
export async function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<ReadBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > maxBytes) {
      return {
        forward: Readable.from(concatThenRest(chunks, req)),
        facts: { model: null, stream: false, maxTokens: null, bytes: size, parsed: false },
      };
    }
  }
  const body = Buffer.concat(chunks, size);
  return { forward: body, facts: inspect(body) };
}

async function* concatThenRest(head: Buffer[], rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  yield* rest;
}

/** Pure: the fields of a Messages body that matter for metering and budgets. */
export function inspect(body: Buffer): RequestFacts {
  const facts: RequestFacts = { model: null, stream: false, maxTokens: null, bytes: body.length, parsed: false };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    // Invalid JSON is the upstream's to reject; we forward it unchanged and record the answer.
    return facts;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return facts;
  const o = json as Record<string, unknown>;
  facts.parsed = true;
  if (typeof o['model'] === 'string') facts.model = o['model'];
  facts.stream = o['stream'] === true;
  if (typeof o['max_tokens'] === 'number' && Number.isFinite(o['max_tokens'])) facts.maxTokens = o['max_tokens'];
  return facts;
}
