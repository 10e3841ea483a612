/**
 * Where an OpenAI-format client puts its key: `Authorization: Bearer` (OpenAI and every
 * compatible relay), or `api-key` (Azure OpenAI). The proxy treats both as the caller's
 * credential, as it treats Anthropic's two (api/anthropic/credentials.ts).
 */

/** Lower-case header names, in the order the proxy prefers them; the proxy's own key (upstream.api_key) is sent in the first. */
export const CREDENTIAL_HEADERS: readonly string[] = Object.freeze(['authorization', 'api-key']);

/** The secret a credential header carries: the token of `Bearer <token>`, any other value whole. */
export { credentialSecret } from '../../lib/bearer.ts';
