/**
 * Whole (non-streamed) OpenAI-format bodies: a chat completion, a Responses object, a text
 * completion or an embeddings list. All four carry their usage in a top-level `usage` member;
 * only its spelling differs (reported.ts). Pure.
 */
import type { BodyReading } from '../../core/dialect.ts';
import { isRecord, text } from './reported.ts';
import type { ReadUsage } from './usage.ts';

const NOTHING: BodyReading = Object.freeze({ usage: null, invalid: false, model: null, messageId: null, stopReason: null });

/**
 * Reads a response body. The stop reason is read from a Responses object (`status`, or why it
 * is incomplete) only: a chat completion's `finish_reason` sits inside `choices`, the bulk of
 * the body, which a large body is not parsed for (the tap parses only `responseMembers`).
 */
export function readBody(json: unknown, read: ReadUsage): BodyReading {
  if (!isRecord(json)) return NOTHING;
  const r = read(json.usage);
  const usage = r.usage;
  if (usage !== null) usage.serviceTier = text(json.service_tier);
  return {
    usage,
    invalid: r.invalid,
    adjusted: r.adjusted,
    model: text(json.model),
    messageId: text(json.id),
    stopReason: json.object === 'response' ? responseStop(json) : null,
  };
}

/** A Responses object's end: why it is incomplete (`max_output_tokens`, `content_filter`), else its status. */
export function responseStop(response: Record<string, unknown>): string | null {
  const incomplete = isRecord(response.incomplete_details) ? text(response.incomplete_details.reason) : null;
  return incomplete ?? text(response.status);
}

/**
 * The error's type (or, lacking one, its code) of an error body `{"error":{message, type, param, code}}`,
 * a chat stream's error chunk (the same shape), a failed Responses object (`error: {code, message}`)
 * or a Responses `error` event (`{type: "error", code, message}`).
 */
export function readError(json: unknown): string | null {
  if (!isRecord(json)) return null;
  if (isRecord(json.error)) return text(json.error.type) ?? text(json.error.code);
  if (json.type === 'error') return text(json.code);
  return null;
}
