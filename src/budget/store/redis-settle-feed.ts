/**
 * Settles on every proxy, heard through Redis: the settle script publishes the instance's hash
 * key on `{<prefix>:budget}:wake` (SPUBLISH: sharded pub/sub, so on a Cluster it stays on the
 * budget slot's shard) whenever it releases a reservation, and the admit script publishes it
 * after a `!` when a request waits for headroom held in leases (a recall). The subscriber is a second
 * connection, made only when a request first waits; lost messages are covered by the waiting
 * room's poll.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.ts';
import { DEFAULT_PREFIX } from '../../redis/prefix.ts';
import { quitClient } from '../../redis/client.ts';
import { budgetKeySchema, type BudgetKeys } from './keys.ts';
import type { InstanceRef, SettleFeed } from '../types.ts';

export class RedisSettleFeed implements SettleFeed {
  readonly #client: Redis | Cluster;
  readonly #keys: BudgetKeys;
  readonly #logger: Logger;
  #sub: Redis | Cluster | null = null;
  #closed = false;

  constructor(client: Redis | Cluster, opts: { prefix?: string; logger: Logger }) {
    this.#client = client;
    this.#keys = budgetKeySchema(opts.prefix ?? DEFAULT_PREFIX);
    this.#logger = opts.logger;
  }

  keyOf(ref: InstanceRef): string {
    return this.#keys.hashOf(ref);
  }

  listen(onSettled: (key: string) => void, onRecall?: (key: string) => void): void {
    if (this.#sub !== null || this.#closed) return;
    // The shared client fails fast while Redis is down; a subscriber should instead wait and
    // resubscribe on reconnect (ioredis does), so it queues its SSUBSCRIBE until connected.
    const sub = isCluster(this.#client)
      ? this.#client.duplicate([], { enableOfflineQueue: true, shardedSubscribers: true })
      : this.#client.duplicate({ enableOfflineQueue: true });
    this.#sub = sub;
    sub.on('error', (err: Error) => this.#logger.debug({ err: err.message }, 'settle feed connection error'));
    const channel = this.#keys.wake;
    const deliver = (ch: string, message: string): void => {
      if (ch !== channel) return;
      if (message.startsWith('!')) onRecall?.(message.slice(1));
      else onSettled(message);
    };
    sub.on('smessage', deliver);
    sub.on('message', deliver);
    // Redis before 7 has no sharded pub/sub, and the settle script then uses PUBLISH. A subscribe
    // that fails because Redis is down is made again when it is back (ioredis re-subscribes
    // only what once succeeded); one Redis refuses both ways is worth a line.
    let subscribed = false;
    const attempt = (): void => {
      sub.ssubscribe(channel).then(
        () => (subscribed = true),
        () => {
          if (sub.status !== 'ready') return;
          sub.subscribe(channel).then(
            () => (subscribed = true),
            (err: unknown) => this.#logger.warn({ err: String(err) }, 'settle feed: could not subscribe; waiting requests poll instead'),
          );
        },
      );
    };
    sub.on('ready', () => {
      if (!subscribed) attempt();
    });
    attempt();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const sub = this.#sub;
    this.#sub = null;
    if (sub !== null) await quitClient(sub);
  }
}

function isCluster(c: Redis | Cluster): c is Cluster {
  return 'isCluster' in c && c.isCluster === true;
}
