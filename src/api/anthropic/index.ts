/** The Anthropic Messages API as a Dialect: everything the proxy knows about its wire format. */
import type { Dialect } from '../../core/dialect.ts';
import type { ErrorType } from '../../core/errors.ts';
import { CREDENTIAL_HEADERS, credentialSecret } from './credentials.ts';
import { route } from './routes.ts';
import { headerFacts, requestFacts } from './request.ts';
import { MessageUsageAccumulator, parseErrorBody, parseMessageBody } from './usage.ts';

/** Event types that never carry usage. */
const NO_USAGE_EVENTS: ReadonlySet<string> = new Set(['ping', 'content_block_start', 'content_block_delta', 'content_block_stop']);

export const anthropic: Dialect = {
  name: 'anthropic',
  route,
  headerFacts,
  credentialHeaders: CREDENTIAL_HEADERS,
  credentialSecret,
  requestFacts,
  responseMembers: new Set(['usage', 'model', 'id', 'stop_reason', 'error']),
  readBody: parseMessageBody,
  readError: parseErrorBody,
  carriesNoUsage: (event) => NO_USAGE_EVENTS.has(event),
  newStream: () => new MessageUsageAccumulator(),
  errorBody,
};

/** `{type:"error", error:{type, message}, request_id}`: what the SDKs parse into APIError. */
export function errorBody(type: ErrorType, message: string, requestId: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId });
}
