/**
 * Notes, once per key id, the hint of the Anthropic key a caller's requests carry (api/anthropic
 * key-hint.ts) in the meter store, for `reconcile`. The request path pays one Set lookup: the hint
 * is computed and written only for a key id this process has not noted yet. Raw keys are never
 * kept: the secret is read from the request's credential and dropped once hinted.
 */
import type { Dialect } from '../core/dialect.ts';
import type { Credential } from '../core/request.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { partialKeyHint } from '../api/anthropic/key-hint.ts';
import { MAX_KEY_HINTS } from '../store/keys.ts';
import type { MeterStore } from '../store/types.ts';

/** After a failed write, notes wait this long: a store outage costs one write a minute, not one per request. */
const RETRY_AFTER_MS = 60_000;

export class KeyHintBook {
  readonly #store: Pick<MeterStore, 'saveKeyHint'>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Key ids noted (hinted, or found to have no hint); bounded like the store. */
  readonly #noted = new Set<string>();
  #pausedUntil = 0;
  /** Writes not settled yet (a handful at most: one per new key id). */
  readonly #pending = new Set<Promise<unknown>>();

  constructor(store: Pick<MeterStore, 'saveKeyHint'>, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Called per request with the credential the upstream receives; does nothing for a key id already noted. */
  note(keyId: string, dialect: Dialect, credential: Credential | null): void {
    if (credential === null || this.#noted.has(keyId)) return;
    if (this.#noted.size >= MAX_KEY_HINTS || this.#clock.now() < this.#pausedUntil) return;
    this.#noted.add(keyId);
    const hint = partialKeyHint(dialect.credentialSecret(credential.header, credential.value));
    if (hint === null) return;
    const write = this.#store
      .saveKeyHint(keyId, hint)
      .catch((err: unknown) => {
        this.#noted.delete(keyId); // noted again once the pause is over
        this.#pausedUntil = this.#clock.now() + RETRY_AFTER_MS;
        this.#logger.warn({ err: err instanceof Error ? err.message : String(err), key_id: keyId }, 'key hint not saved');
      })
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  /** Resolves once every write begun has settled (app.flush, so tests need not wait for time). */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending]);
  }
}
