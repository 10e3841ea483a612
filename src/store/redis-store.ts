/**
 * MeterStore over Redis (single node or Cluster). Key layout: see keys.ts.
 *
 * write(): one EVALSHA of WRITE_SCRIPT. A script runs atomically, so a record's event,
 * its ~48 counter increments and their EXPIREs apply together or not at all; the
 * dedupe key it sets first makes a replay after an ambiguous failure (timeout, dropped
 * connection after the server ran it) a no-op instead of a double count.
 * query(): one pipeline of HGETALLs, one per hour of the range.
 */
import type { Cluster, Redis, Result } from 'ioredis';
import { assertValidRecord, recordDeltas, RowBuilder } from './buckets.ts';
import { decodeEvent, encodeEvent } from './event-codec.ts';
import {
  bucketField,
  DEFAULT_DEDUPE_TTL_SECONDS,
  DEFAULT_PREFIX,
  dimensionValue,
  DIMENSIONS,
  hourStartSec,
  hourStartsInRange,
  keySchema,
  minuteOfHour,
  parseBucketField,
  type KeySchema,
} from './keys.ts';
import type { MeterStore, RequestRecord, StoreHealth, UsageQuery, UsageRow } from './types.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** WRITE_SCRIPT: resolves 1 when applied, 0 when the record id was already seen. */
    claudeMeterWrite(...keysThenArgs: string[]): Result<number, Context>;
  }
}

export type RedisClient = Redis | Cluster;

/*
 * KEYS: [1] dedupe marker  [2] event stream  [3..] one hour hash per dimension
 * ARGV: [1] dedupe ttl s  [2] stream max len  [3] bucket ttl s  [4] n = event arg count
 *       [5 .. 4+n] event field/value pairs; then, per hash key in KEYS order:
 *       c = number of (field, increment) pairs, followed by those pairs.
 * Increments stay strings end to end: Lua numbers are doubles and would round
 * above 2^53; HINCRBY parses the string as a 64-bit integer itself.
 * Redis does not roll back a script that errors half-way; all arguments are validated
 * in JS first, so only a foreign value under our keys (WRONGTYPE) can cause that, and
 * claiming the dedupe key first keeps even that case from counting twice on replay.
 */
const WRITE_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local n = tonumber(ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 5, 4 + n))
local i = 5 + n
for k = 3, #KEYS do
  local c = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, c do
    redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  redis.call('EXPIRE', KEYS[k], ARGV[3])
end
return 1
`;

export interface RedisStoreOptions {
  /** Key prefix; wrapped in a Cluster hash tag (`cm` → `{cm}`), see keys.ts. */
  prefix?: string;
  /** An hour hash expires this long after its last write. */
  bucketTtlSeconds: number;
  /** Approximate cap of the event stream (XADD MAXLEN ~); recent() never returns more. */
  eventsMaxLen: number;
  /** How long a written id is remembered; must outlive the Recorder's journal. */
  dedupeTtlSeconds?: number;
  /** health() reports unreachable when PING takes longer (ms). */
  healthTimeoutMs?: number;
  /** close() quits the client (default true: the composition root hands it over). */
  ownsClient?: boolean;
}

export class RedisStore implements MeterStore {
  readonly kind = 'redis' as const;
  readonly #client: RedisClient;
  readonly #keys: KeySchema;
  readonly #bucketTtl: string;
  readonly #eventsMaxLen: number;
  readonly #dedupeTtl: string;
  readonly #healthTimeoutMs: number;
  readonly #ownsClient: boolean;
  #closed = false;

  constructor(client: RedisClient, opts: RedisStoreOptions) {
    const dedupeTtl = opts.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS;
    for (const [name, v] of [
      ['bucketTtlSeconds', opts.bucketTtlSeconds],
      ['eventsMaxLen', opts.eventsMaxLen],
      ['dedupeTtlSeconds', dedupeTtl],
    ] as const) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`RedisStore ${name} must be a positive integer, got ${v}`);
    }
    this.#client = client;
    this.#keys = keySchema(opts.prefix ?? DEFAULT_PREFIX);
    this.#bucketTtl = String(opts.bucketTtlSeconds);
    this.#eventsMaxLen = opts.eventsMaxLen;
    this.#dedupeTtl = String(dedupeTtl);
    this.#healthTimeoutMs = opts.healthTimeoutMs ?? 500;
    this.#ownsClient = opts.ownsClient ?? true;
    // defineCommand loads by EVALSHA and falls back to EVAL on NOSCRIPT, so a restarted
    // (script-cache-less) server needs no special handling here.
    client.defineCommand('claudeMeterWrite', { numberOfKeys: 2 + DIMENSIONS.length, lua: WRITE_SCRIPT });
  }

  async write(r: RequestRecord): Promise<void> {
    this.#assertOpen();
    assertValidRecord(r);
    const hour = hourStartSec(r.ts);
    const minute = minuteOfHour(r.ts);
    const deltas = recordDeltas(r);
    const event = encodeEvent(r);
    const keys = [this.#keys.seen(r.id), this.#keys.events, ...DIMENSIONS.map((d) => this.#keys.agg(d, hour))];
    const args = [this.#dedupeTtl, String(this.#eventsMaxLen), this.#bucketTtl, String(event.length), ...event];
    for (const dim of DIMENSIONS) {
      const value = dimensionValue(dim, r);
      args.push(String(deltas.length));
      for (const [metric, n] of deltas) args.push(bucketField(minute, metric, value), String(n));
    }
    await this.#client.claudeMeterWrite(...keys, ...args);
  }

  async query(q: UsageQuery): Promise<UsageRow[]> {
    this.#assertOpen();
    if (!DIMENSIONS.includes(q.by)) throw new RangeError(`unknown dimension ${String(q.by)}`);
    const rows = new RowBuilder(q);
    if (q.to <= q.from) return [];
    const hours = hourStartsInRange(q.from, q.to);
    const pipeline = this.#client.pipeline();
    for (const hour of hours) pipeline.hgetall(this.#keys.agg(q.by, hour));
    const results = await pipeline.exec();
    if (results === null) throw new Error('redis pipeline was aborted');
    results.forEach(([err, hash], i) => {
      if (err !== null) throw err;
      const hourMs = (hours[i] ?? 0) * 1000;
      if (typeof hash !== 'object' || hash === null) return;
      for (const [field, amount] of Object.entries(hash)) {
        const f = parseBucketField(field);
        if (f === null || typeof amount !== 'string') continue;
        rows.add(hourMs + f.minute * 60_000, f.value, f.metric, BigInt(amount));
      }
    });
    return rows.rows();
  }

  async recent(limit: number): Promise<RequestRecord[]> {
    this.#assertOpen();
    if (!(limit >= 1)) return [];
    // MAXLEN ~ trims lazily, so the stream may briefly hold more; the cap is ours.
    const count = Math.min(Math.floor(limit), this.#eventsMaxLen);
    const entries = await this.#client.xrevrange(this.#keys.events, '+', '-', 'COUNT', count);
    const out: RequestRecord[] = [];
    for (const [, fields] of entries) {
      const r = decodeEvent(fields);
      if (r !== null) out.push(r); // an entry we cannot read (newer schema, corruption) is skipped
    }
    return out;
  }

  async health(): Promise<StoreHealth> {
    if (this.#closed) return { kind: 'redis', reachable: false, detail: 'store closed' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`PING timed out after ${this.#healthTimeoutMs} ms`)), this.#healthTimeoutMs);
    });
    try {
      await Promise.race([this.#client.ping(), timeout]);
      return { kind: 'redis', reachable: true };
    } catch (err) {
      return { kind: 'redis', reachable: false, detail: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    try {
      await this.#client.quit();
    } catch {
      // QUIT fails when the connection is already down; disconnect() stops reconnecting, same end state.
      this.#client.disconnect();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisStore is closed');
  }
}
