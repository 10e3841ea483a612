import type { ServerResponse } from 'node:http';
import type { Dialect } from '../core/dialect.ts';
import type { ProxyError } from '../core/errors.ts';

/** Writes a ProxyError in the dialect's shape if nothing was sent yet; otherwise the only honest signal left is to cut the connection. */
export function sendProxyError(res: ServerResponse, err: ProxyError, requestId: string, dialect: Dialect): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const body = dialect.errorBody(err.type, err.message, requestId);
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'request-id': requestId,
    ...err.headers,
  });
  res.end(body);
}
