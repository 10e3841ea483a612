import type { ServerResponse } from 'node:http';
import type { AnthropicErrorType, ProxyError } from '../core/errors.ts';

export function errorBody(type: AnthropicErrorType, message: string, requestId: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId });
}

/** Writes a ProxyError if nothing was sent yet; otherwise the only honest signal left is to cut the connection. */
export function sendProxyError(res: ServerResponse, err: ProxyError, requestId: string): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const body = errorBody(err.type, err.message, requestId);
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'request-id': requestId,
    ...err.headers,
  });
  res.end(body);
}
