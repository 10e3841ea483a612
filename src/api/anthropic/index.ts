/** The Anthropic Messages API as a Dialect: everything the proxy knows about its wire format. */
import type { Dialect, EventKind } from '../../core/dialect.ts';
import type { ErrorType } from '../../core/errors.ts';
import { batchCall, readBatchObjects, rewriteResultsUrls } from './batches.ts';
import { BatchResultsReader } from './batch-results.ts';
import { BatchScan } from './batch-scan.ts';
import { CREDENTIAL_HEADERS, credentialSecret } from './credentials.ts';
import { route } from './routes.ts';
import { headerFacts, requestFacts } from './request.ts';
import { MessageUsageAccumulator } from './stream.ts';
import { parseErrorBody, parseMessageBody } from './usage.ts';

/** Event types that never carry usage; content deltas carry the output, whose size estimates a stream cut short. */
const EVENT_KINDS: ReadonlyMap<string, EventKind> = new Map<string, EventKind>([
  ['ping', 'none'],
  ['content_block_start', 'none'],
  ['content_block_delta', 'content'],
  ['content_block_stop', 'none'],
]);

export const anthropic: Dialect = {
  name: 'anthropic',
  route,
  headerFacts,
  credentialHeaders: CREDENTIAL_HEADERS,
  credentialSecret,
  requestFacts,
  responseMembers: new Set(['usage', 'model', 'id', 'stop_reason', 'error']),
  readBody: parseMessageBody,
  streamMembers: [
    ['type'],
    ['message', 'id'],
    ['message', 'model'],
    ['message', 'usage'],
    ['delta', 'stop_reason'],
    ['usage'],
    ['error', 'type'],
  ],
  readError: parseErrorBody,
  eventKind: (event) => EVENT_KINDS.get(event) ?? 'usage',
  newStream: () => new MessageUsageAccumulator(),
  errorBody,
  batches: {
    call: batchCall,
    rewriteResultsUrls,
    readObjects: readBatchObjects,
    newScan: () => new BatchScan(),
    newResults: (max) => new BatchResultsReader(max),
  },
};

/** `{type:"error", error:{type, message}, request_id}`: what the SDKs parse into APIError. */
export function errorBody(type: ErrorType, message: string, requestId: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId });
}
