/**
 * Where an Anthropic client puts its key: `x-api-key` (API keys), or `Authorization: Bearer`
 * (OAuth and token auth). The upstream may read either, so the proxy treats both as the
 * caller's credential: it identifies from them, refuses two different ones, and forwards one.
 * A server that merges `_` and `-` reads `x_api_key` as `x-api-key`, so the proxy does too
 * (upstream/headers.ts headerAlias): the names are listed here with `-` only.
 */

/** Lower-case header names, in the order the proxy prefers them; the proxy's own key (upstream.api_key) is sent in the first. */
export const CREDENTIAL_HEADERS: readonly string[] = Object.freeze(['x-api-key', 'authorization']);

/** The secret a credential header carries: the token of `Bearer <token>`, any other value whole. */
export { credentialSecret } from '../../lib/bearer.ts';
