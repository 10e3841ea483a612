/** What the proxy knows about one request before it is forwarded. */

/** Who is calling, without ever holding the raw key. */
export interface Caller {
  /**
   * First 16 hex chars of sha256(key): stable, short, not reversible. `anon` when no key was
   * sent; `unverified` when the proxy sends its own key upstream and checks no client key list,
   * so the client's key was checked by nobody and names nobody.
   */
  keyId: string;
  /** `x-meter-tag`, sanitised; '' when absent. */
  tag: string;
}

/** The metered fields of a request body, parsed by the dialect when a stage asks for them. */
export interface RequestFacts {
  model: string | null;
  stream: boolean;
  maxTokens: number | null;
  /** Body size in bytes (input-size estimate for budgets). */
  bytes: number;
  /** False when the body was not a JSON object we could read; it is still forwarded as-is. */
  parsed: boolean;
  /**
   * A member the meter reads that the body names twice with different values (JSON parsers
   * disagree on which one wins, so the upstream may bill another model than the budget saw).
   */
  conflict?: string;
}

/**
 * What a route means for metering, classified once per request by the dialect:
 * - `metered`: the response carries billable usage; budgets apply;
 * - `free`: free by design (count_tokens): no usage and no missing reason;
 * - `unreported`: billed upstream, but the response reports no usage: recorded as missing, never $0;
 * - `passthrough`: carries no usage by design (GET /v1/models …).
 */
export type RouteKind = 'metered' | 'free' | 'unreported' | 'passthrough';

/** The one client credential forwarded upstream, as sent: the header's lower-case name and its value. */
export interface Credential {
  header: string;
  value: string;
}
