/** The secret an `Authorization` header carries. */

const BEARER = /^bearer\s+/i;

/** The secret a credential header carries: the token of `Authorization: Bearer <token>`, any other value whole. */
export function credentialSecret(header: string, value: string): string {
  return header === 'authorization' && BEARER.test(value) ? value.replace(BEARER, '') : value;
}
