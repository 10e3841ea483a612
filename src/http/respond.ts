import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Dialect } from '../core/dialect.ts';
import type { ProxyError } from '../core/errors.ts';
import type { Logger } from '../lib/logger.ts';

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

/**
 * Refuses a request before it became an exchange (its target, its credentials, the body buffer
 * bound): answered here, never forwarded, billed by nobody, so logged but not recorded.
 */
export function refuseUnrecorded(
  res: ServerResponse,
  err: ProxyError,
  dialect: Dialect,
  logger: Logger,
  fields: Record<string, unknown>,
): void {
  sendProxyError(res, err, `req_meter_${randomUUID()}`, dialect);
  logger.info({ ...fields, status: err.status, code: err.code }, 'request refused');
}
