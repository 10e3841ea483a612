/**
 * The hint Anthropic shows for an API key (the Admin API's `partial_key_hint`, the Console's key
 * list): its first 16 characters, `...`, its last 4 (`sk-ant-api03-R2D...igAA`). The proxy keeps
 * this much of a key and nothing more, so `reconcile` can tell which of Anthropic's keys a key id is.
 */

const HEAD = 16;
const TAIL = 4;
/** Shorter keys would show most of themselves in a hint; no real Anthropic key is near this short. */
const MIN_KEY_LENGTH = 40;

/** The hint of an Anthropic key (`sk-ant-…`), or null for any other secret. */
export function partialKeyHint(secret: string): string | null {
  if (!secret.startsWith('sk-ant-') || secret.length < MIN_KEY_LENGTH) return null;
  const hint = `${secret.slice(0, HEAD)}...${secret.slice(-TAIL)}`;
  return /^sk-ant-[A-Za-z0-9_-]{9}\.\.\.[A-Za-z0-9_-]{4}$/.test(hint) ? hint : null;
}
