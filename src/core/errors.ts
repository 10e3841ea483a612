/**
 * Every error response the proxy itself produces goes through here, in Anthropic's
 * own error shape, because our clients are Anthropic SDKs: they parse `error.type`
 * and decide retries from the status and `x-should-retry` / `retry-after`.
 */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

export class ProxyError extends Error {
  readonly status: number;
  readonly type: AnthropicErrorType;
  /** Stable code for logs and metrics (`upstream_unreachable`, …). */
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(
    code: string,
    status: number,
    type: AnthropicErrorType,
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
  return new ProxyError(
    'upstream_unreachable',
    502,
    'api_error',
    `claude-meter: upstream ${upstream} unreachable (${code})`,
    { cause: err },
  );
}
