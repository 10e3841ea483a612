/**
 * MeterStore over Redis (single node or Cluster). Key layout: see keys.ts.
 *
 * writeBatch(): one EVALSHA per batch (the Recorder gathers records: group commit). A
 * script runs atomically, so a batch's stream entries, counter increments and EXPIREs apply
 * together or not at all; each record's id, added to the dedupe set of its minute first,
 * makes a replay after an ambiguous failure (timeout, dropped connection after the server
 * ran it) a no-op for that record instead of a double count, whichever batch carries it.
 *
 * Two scripts, each in its own file with the function that builds its KEYS/ARGV.
 * BATCH_SCRIPT (redis-batch-script.ts) takes the batch's increments summed in JS and
 * applies only if every record in the batch is new; a batch holding a record already
 * written (only a replay can) comes back refused and is sent again through EXACT_SCRIPT
 * (redis-exact-script.ts), which carries every record's own increments and skips the seen
 * ones. Summing in JS keeps per-record work off Redis, which shares the CPU with the proxy
 * (bench/redis-commandstats.ts).
 * query(): one pipeline of HGETALLs, one per hour of the range.
 */
import { Command } from 'ioredis';
import { MINUTE_MS } from '../core/time.ts';
import { quitClient, type RedisClient } from '../redis/client.ts';
import { DEFAULT_PREFIX } from '../redis/prefix.ts';
import { assertValidRecord, recordDeltas, RowBuilder } from './buckets.ts';
import {
  assertKeyHint,
  DEFAULT_DEDUPE_TTL_SECONDS,
  dimensionValue,
  DIMENSIONS,
  hourStartSec,
  hourStartsInRange,
  keySchema,
  MAX_KEY_HINTS,
  minuteOfHour,
  minuteStart,
  parseBucketField,
  type KeySchema,
} from './keys.ts';
import { decodeRecord, encodeRecord } from './record-codec.ts';
import { BATCH_SCRIPT, batchScriptArgs } from './redis-batch-script.ts';
import { luaScript, type EncodedRecord, type LuaScript, type ScriptCall } from './redis-batch.ts';
import { EXACT_SCRIPT, exactScriptArgs } from './redis-exact-script.ts';
import type { MeterStore, RequestRecord, StoreHealth, UsageQuery, UsageRow } from './types.ts';

/**
 * Upper bound of records per script call, because a script blocks Redis while it runs:
 * a few commands per record, so a full call stays around a millisecond. Larger batches
 * are split.
 */
const MAX_BATCH = 128;

/**
 * KEYS[1] the hint hash; ARGV: key id, hint, the most fields. First write wins; a full hash keeps
 * no new id. Returns 1 when the hash holds this hint for the id, 0 otherwise.
 */
const KEY_HINT_SCRIPT = luaScript(`
local had = redis.call('HGET', KEYS[1], ARGV[1])
if had then return had == ARGV[2] and 1 or 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`);

export interface RedisStoreOptions {
  /** Key prefix; wrapped in a Cluster hash tag (`cm` → `{cm}`), see keys.ts. */
  prefix?: string;
  /** An hour hash expires this long after its last write. */
  bucketTtlSeconds: number;
  /** Approximate cap of the record stream (XADD MAXLEN ~); recent() never returns more. */
  recordsMaxLen: number;
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
  readonly #recordsMaxLen: number;
  readonly #dedupeTtl: string;
  readonly #healthTimeoutMs: number;
  readonly #ownsClient: boolean;
  #closed = false;
  #seenMinute = -1;
  #seenKeyOfMinute = '';

  constructor(client: RedisClient, opts: RedisStoreOptions) {
    const dedupeTtl = opts.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS;
    for (const [name, v] of [
      ['bucketTtlSeconds', opts.bucketTtlSeconds],
      ['recordsMaxLen', opts.recordsMaxLen],
      ['dedupeTtlSeconds', dedupeTtl],
    ] as const) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`RedisStore ${name} must be a positive integer, got ${v}`);
    }
    this.#client = client;
    this.#keys = keySchema(opts.prefix ?? DEFAULT_PREFIX);
    this.#bucketTtl = String(opts.bucketTtlSeconds);
    this.#recordsMaxLen = opts.recordsMaxLen;
    this.#dedupeTtl = String(dedupeTtl);
    this.#healthTimeoutMs = opts.healthTimeoutMs ?? 500;
    this.#ownsClient = opts.ownsClient ?? true;
  }

  write(r: RequestRecord): Promise<void> {
    return this.writeBatch([r]);
  }

  /**
   * One script call per MAX_BATCH records (the Recorder gathers them: group commit).
   * Batching spares Redis one script call, and most HINCRBYs, per record, and spares the
   * proxy one command encoding and socket write per record: Redis shares the machine with
   * the proxy, so both CPUs are the proxy's throughput (npm run bench).
   */
  async writeBatch(records: readonly RequestRecord[]): Promise<void> {
    this.#assertOpen();
    for (const r of records) assertValidRecord(r);
    const pending = records.map((r) => this.#encode(r));
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < pending.length; i += MAX_BATCH) calls.push(this.#send(pending.slice(i, i + MAX_BATCH)));
    await Promise.all(calls);
  }

  #encode(r: RequestRecord): EncodedRecord {
    const dims: string[] = [];
    for (const dim of DIMENSIONS) dims.push(dimensionValue(dim, r));
    return {
      id: r.id,
      seenKey: this.#seenKey(minuteStart(r.ts) / 1000),
      hour: hourStartSec(r.ts),
      minute: minuteOfHour(r.ts),
      entry: encodeRecord(r),
      deltas: recordDeltas(r),
      dims,
      dimsKey: dims.join('\u0000'),
    };
  }

  /** The dedupe set's key for a minute; records of one batch nearly always share it, so it is built once. */
  #seenKey(minuteStartSec: number): string {
    if (minuteStartSec !== this.#seenMinute) {
      this.#seenMinute = minuteStartSec;
      this.#seenKeyOfMinute = this.#keys.seen(minuteStartSec);
    }
    return this.#seenKeyOfMinute;
  }

  /**
   * One script call; a batch refused because it holds a record written before goes again
   * through EXACT_SCRIPT, and so does one that holds an id twice (only a replay could).
   */
  async #send(batch: readonly EncodedRecord[]): Promise<unknown> {
    if (new Set(batch.map((p) => p.id)).size === batch.length) {
      const applied = await this.#runScript(BATCH_SCRIPT, batchScriptArgs(batch, this.#keys, this.#common()));
      if (applied !== 0) return applied;
    }
    return this.#runScript(EXACT_SCRIPT, exactScriptArgs(batch, this.#keys, this.#common()));
  }

  /** The first ARGV of both scripts. */
  #common(): [string, string, string] {
    return [this.#dedupeTtl, String(this.#recordsMaxLen), this.#bucketTtl];
  }

  /** EVALSHA, and EVAL when the server answers NOSCRIPT (a restart emptied its script cache). */
  #runScript(script: LuaScript, [keys, args]: ScriptCall): Promise<unknown> {
    return this.#command('evalsha', script.sha, keys, args).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return this.#command('eval', script.lua, keys, args);
    });
  }

  /**
   * One ioredis Command per batch through sendCommand, not defineCommand as the budget
   * store does: a batch is one command already, so auto-pipelining has nothing to gather,
   * and a defined command's first argument would be the key count (it varies per batch),
   * by which auto-pipelining routes a Cluster command. Timeouts, the offline-queue refusal
   * and Cluster slot routing live in sendCommand and still apply. ioredis' `keyPrefix`
   * option does not: the clients claude-meter builds never set it (keys.ts prefixes keys).
   */
  #command(name: 'evalsha' | 'eval', body: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const argv: string[] = [body, String(keys.length)];
    for (const k of keys) argv.push(k);
    for (const a of args) argv.push(a);
    const command = new Command(name, argv, { replyEncoding: 'utf8' });
    this.#client.sendCommand(command);
    return command.promise;
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
        rows.add(hourMs + f.minute * MINUTE_MS, f.value, f.counter, BigInt(amount));
      }
    });
    return rows.rows();
  }

  async recent(limit: number): Promise<RequestRecord[]> {
    this.#assertOpen();
    if (!(limit >= 1)) return [];
    // MAXLEN ~ trims lazily, so the stream may briefly hold more; the cap is ours.
    const count = Math.min(Math.floor(limit), this.#recordsMaxLen);
    const entries = await this.#client.xrevrange(this.#keys.records, '+', '-', 'COUNT', count);
    const out: RequestRecord[] = [];
    for (const [, fields] of entries) {
      const r = decodeRecord(fields);
      if (r !== null) out.push(r); // an entry we cannot read (newer schema, corruption) is skipped
    }
    return out;
  }

  async saveKeyHint(keyId: string, hint: string): Promise<boolean> {
    this.#assertOpen();
    assertKeyHint(keyId, hint);
    const kept = await this.#runScript(KEY_HINT_SCRIPT, [[this.#keys.keyHints], [keyId, hint, String(MAX_KEY_HINTS)]]);
    return kept === 1;
  }

  async keyHints(): Promise<Map<string, string>> {
    this.#assertOpen();
    return new Map(Object.entries(await this.#client.hgetall(this.#keys.keyHints)));
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
    await quitClient(this.#client);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisStore is closed');
  }
}
