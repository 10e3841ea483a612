/**
 * The errors the proxy itself answers with, as a catalogue of named constructors. The wire
 * shape belongs to the dialect (api/anthropic/errors.ts): SDKs parse its `error.type` and
 * decide retries from the status and `x-should-retry` / `retry-after`.
 */

/** Error types as the Anthropic API names them; another dialect maps them in its errorBody. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

/** Stable codes for logs and metrics. */
export type ErrorCode =
  | 'upstream_timeout'
  | 'upstream_unreachable'
  | 'budget_exhausted'
  | 'budget_store_unreachable'
  | 'request_bodies_full'
  | 'invalid_target'
  | 'conflicting_credentials'
  | 'ambiguous_body'
  | 'batch_too_large'
  | 'batch_encoded'
  | 'batch_spool_failed'
  | 'unknown_client_key'
  | 'unknown_upstream'
  | 'internal';

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  readonly headers: Record<string, string>;
  constructor(
    code: ErrorCode,
    status: number,
    type: ErrorType,
    message: string,
    opts: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProxyError';
    this.code = code;
    this.status = status;
    this.type = type;
    this.headers = opts.headers ?? {};
  }
}

/** Transport failures become gateway statuses in exactly one place, keeping the cause. */
export function upstreamFailure(err: NodeJS.ErrnoException, upstream: string): ProxyError {
  const code = err.code ?? 'UNKNOWN';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new ProxyError('upstream_timeout', 504, 'timeout_error', `claude-meter: upstream ${upstream} timed out (${code})`, {
      cause: err,
    });
  }
  return new ProxyError('upstream_unreachable', 502, 'api_error', `claude-meter: upstream ${upstream} unreachable (${code})`, {
    cause: err,
  });
}

/** A budget refused the request: a 429 the SDKs back off from, with the budget's own headers. */
export function budgetExhausted(
  status: number,
  message: string,
  retryAfterS: number,
  shouldRetry: boolean,
  headers: Record<string, string>,
): ProxyError {
  return new ProxyError('budget_exhausted', status, 'rate_limit_error', message, {
    headers: { ...headers, 'retry-after': String(retryAfterS), 'x-should-retry': String(shouldRetry) },
  });
}

/** A fail-closed budget could not be checked. */
export function budgetStoreUnreachable(): ProxyError {
  return new ProxyError(
    'budget_store_unreachable',
    503,
    'api_error',
    'claude-meter: budget store unreachable and the budget fails closed (on_store_error: deny)',
    {
      headers: { 'retry-after': '5', 'x-should-retry': 'true' },
    },
  );
}

/** A request target the proxy cannot read one way only (core/target.ts): refused before anything is forwarded. */
export function invalidTarget(reason: string): ProxyError {
  return new ProxyError('invalid_target', 400, 'invalid_request_error', `claude-meter: request target refused: ${reason}`, {
    headers: { 'x-should-retry': 'false' },
  });
}

/** A member the budget reads (the model) named twice with different values: the upstream may read the other one. */
/**
 * A batch create body a budget cannot be held for: larger than limits.max_batch_body_bytes, or
 * content-encoded. Holding $0 for it would let any batch past its budget.
 */
export function batchUnestimable(why: 'too_large' | 'encoded'): ProxyError {
  return why === 'too_large'
    ? new ProxyError(
        'batch_too_large',
        413,
        'invalid_request_error',
        'claude-meter: the batch body is larger than limits.max_batch_body_bytes, so budgets cannot estimate it; split the batch',
        { headers: { 'x-should-retry': 'false' } },
      )
    : new ProxyError(
        'batch_encoded',
        415,
        'invalid_request_error',
        'claude-meter: a content-encoded batch body cannot be estimated for budgets; send it uncompressed',
        { headers: { 'x-should-retry': 'false' } },
      );
}

export function ambiguousBody(member: string): ProxyError {
  return new ProxyError(
    'ambiguous_body',
    400,
    'invalid_request_error',
    `claude-meter: the request body names \`${member}\` more than once with different values; send it once`,
    { headers: { 'x-should-retry': 'false' } },
  );
}

/** Two different credentials on one request: the proxy would meter one while the upstream may read the other. */
export function conflictingCredentials(): ProxyError {
  return new ProxyError(
    'conflicting_credentials',
    400,
    'invalid_request_error',
    'claude-meter: the request carries more than one credential (x-api-key and Authorization, or a repeated or comma-separated value); send one',
    { headers: { 'x-should-retry': 'false' } },
  );
}

/** The proxy checks client keys against upstream.client_key_ids, and this one (or none) is not listed. */
export function unknownClientKey(): ProxyError {
  return new ProxyError('unknown_client_key', 401, 'authentication_error', 'claude-meter: invalid x-api-key', {
    headers: { 'x-should-retry': 'false' },
  });
}

/** `x-meter-upstream` names no upstream it may select: refused, so a misspelt name never reaches another upstream. */
export function unselectableUpstream(): ProxyError {
  return new ProxyError(
    'unknown_upstream',
    400,
    'invalid_request_error',
    'claude-meter: x-meter-upstream names no upstream that may be selected by header (one with select_by_header: true, or the default)',
    { headers: { 'x-should-retry': 'false' } },
  );
}

export function internalError(): ProxyError {
  return new ProxyError('internal', 500, 'api_error', 'claude-meter internal error');
}

/**
 * The request bodies in flight hold limits.max_buffered_request_bytes already: this one is not
 * read. Retryable: the room comes back as those requests finish. The connection closes, since
 * the rest of an unread body cannot be told apart from the next request.
 */
/** A batch create body could not be held in a temporary file (the proxy's disk): nothing was forwarded; worth a retry. */
export function batchSpoolFailed(): ProxyError {
  return new ProxyError(
    'batch_spool_failed',
    503,
    'overloaded_error',
    'claude-meter: the batch body could not be held in a temporary file for its budget estimate; retry shortly',
    { headers: { 'retry-after': '1', 'x-should-retry': 'true', connection: 'close' } },
  );
}

export function requestBodiesFull(
  limit: 'max_buffered_request_bytes' | 'max_spooled_batch_bytes' = 'max_buffered_request_bytes',
): ProxyError {
  return new ProxyError(
    'request_bodies_full',
    503,
    'overloaded_error',
    limit === 'max_spooled_batch_bytes'
      ? 'claude-meter: too many batch bodies in temporary files (limits.max_spooled_batch_bytes); retry shortly'
      : 'claude-meter: too many request bodies in flight (limits.max_buffered_request_bytes); retry shortly',
    { headers: { 'retry-after': '1', 'x-should-retry': 'true', connection: 'close' } },
  );
}
