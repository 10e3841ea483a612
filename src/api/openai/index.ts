/**
 * The OpenAI API format as a Dialect: chat completions, Responses, completions and embeddings,
 * from OpenAI itself or any relay that speaks its format (LiteLLM, new-api, Portkey, DeepSeek,
 * OpenRouter, Anthropic's compatibility endpoint). One per upstream: its usage semantics and
 * their proof belong to that upstream.
 */
import type { Dialect, EventKind } from '../../core/dialect.ts';
import type { ErrorType } from '../../core/errors.ts';
import type { UsageSemantics } from '../../core/usage.ts';
import { readBody, readError } from './body.ts';
import { CREDENTIAL_HEADERS, credentialSecret } from './credentials.ts';
import { headerFacts, requestFacts } from './request.ts';
import { includeUsageRewrite } from './rewrite.ts';
import { endpoint, route } from './routes.ts';
import { SemanticsProof } from './semantics.ts';
import { OpenAiStreamReading } from './stream.ts';
import { usageReader } from './usage.ts';

export interface OpenAiDialectOptions {
  /** What this upstream's prompt count includes (`auto`: proven from its responses). */
  readonly semantics: UsageSemantics;
  /** Ask streamed chat completions for their usage when the client did not (rewrite.ts). */
  readonly includeUsage: boolean;
  /** The upstream's long-lived proof under `auto` (its state is what the admin answer and the metric show); a new one when absent. */
  readonly proof?: SemanticsProof;
}

/**
 * Responses stream events by name. Text deltas are content (counted for the estimate of a stream
 * cut short, never parsed); audio deltas and the progress, `added` and `done` events carry
 * neither usage nor text to count (a `done` repeats the text its deltas streamed). The terminal
 * events, `response.created` and `error` are parsed; so is any name not known here.
 */
const EVENT_KINDS: ReadonlyMap<string, EventKind> = new Map<string, EventKind>([
  ['response.created', 'usage'],
  ['response.completed', 'usage'],
  ['response.incomplete', 'usage'],
  ['response.failed', 'usage'],
  ['error', 'usage'],
  ['response.in_progress', 'none'],
  ['response.queued', 'none'],
  ['response.audio.delta', 'none'],
]);

const NONE_SUFFIXES = ['.done', '.added', '.in_progress', '.searching', '.generating', '.interpreting', '.completed', '.partial_image'];

export function eventKind(event: string): EventKind {
  const known = EVENT_KINDS.get(event);
  if (known !== undefined) return known;
  if (event.startsWith('response.')) {
    if (event.endsWith('.delta')) return 'content';
    if (NONE_SUFFIXES.some((s) => event.endsWith(s))) return 'none';
  }
  return 'usage';
}

export function openaiDialect(opts: OpenAiDialectOptions): Dialect {
  const read = usageReader(opts.semantics, opts.proof ?? new SemanticsProof());
  return {
    name: 'openai',
    route,
    headerFacts,
    credentialHeaders: CREDENTIAL_HEADERS,
    credentialSecret,
    requestFacts,
    rewrite(kind, path, body, readFacts) {
      if (!opts.includeUsage || kind !== 'metered' || endpoint(path) !== 'chat' || !mayStream(body)) return null;
      const facts = readFacts();
      if (facts === null || !facts.stream || !facts.parsed || facts.conflict !== undefined) return null;
      return includeUsageRewrite(body);
    },
    responseMembers: new Set(['usage', 'model', 'id', 'object', 'status', 'incomplete_details', 'service_tier', 'error', 'type', 'code']),
    readBody: (json) => readBody(json, read),
    streamMembers: [
      ['type'],
      ['object'],
      ['id'],
      ['model'],
      ['usage'],
      ['service_tier'],
      ['error'],
      ['code'],
      ['response', 'id'],
      ['response', 'model'],
      ['response', 'usage'],
      ['response', 'status'],
      ['response', 'incomplete_details'],
      ['response', 'service_tier'],
      ['response', 'error'],
    ],
    readError,
    eventKind,
    newStream: (request) => new OpenAiStreamReading(read, request),
    errorBody,
  };
}

/** The `code` OpenAI itself answers with, where it has one for the case. */
const CODES: Partial<Record<ErrorType, string>> = {
  authentication_error: 'invalid_api_key',
  rate_limit_error: 'rate_limit_exceeded',
};

/**
 * `{"error":{message, type, param, code}}`: the shape the openai SDKs parse into APIError (its
 * `type`, `param` and `code`). The type keeps the proxy's own name, which readError reads back;
 * the request id travels in the `request-id` header.
 */
const STREAM_KEY = Buffer.from('"stream"');
const ESCAPE = Buffer.from('\\u');

/**
 * Whether a body may set `stream` (it names the key, or has an escape that could spell it): the
 * rest are never streamed, and their rewrite check parses nothing (most chat requests).
 */
function mayStream(body: Buffer): boolean {
  return body.indexOf(STREAM_KEY) !== -1 || body.indexOf(ESCAPE) !== -1;
}

export function errorBody(type: ErrorType, message: string, _requestId: string): string {
  return JSON.stringify({ error: { message, type, param: null, code: CODES[type] ?? null } });
}
