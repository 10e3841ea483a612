/**
 * MeterStore over Redis (single node or Cluster). Key layout: see keys.ts.
 *
 * write(): records written in the same event-loop turn travel together in one EVALSHA of
 * WRITE_SCRIPT (a batch). A script runs atomically, so a batch's events, counter increments
 * and EXPIREs apply together or not at all; each record's dedupe key, claimed first, makes a
 * replay after an ambiguous failure (timeout, dropped connection after the server ran it)
 * a no-op for that record instead of a double count, whichever batch carries it.
 * query(): one pipeline of HGETALLs, one per hour of the range.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { assertValidRecord, recordDeltas, RowBuilder } from './buckets.ts';
import { decodeEvent, encodeEvent } from './event-codec.ts';
import { quitClient } from './redis-client.ts';
import {
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

export type RedisClient = Redis | Cluster;

/*
 * KEYS: [1] event stream  [2 .. 1+N] dedupe marker of record 1..N
 *       then, per distinct hour of the batch, one hour hash per dimension (DIMENSIONS order)
 * ARGV: [1] dedupe ttl s  [2] stream max len  [3] bucket ttl s  [4] N  [5] dimensions D
 *       then per record: hour group g (0-based), minute of hour, e = event arg count,
 *       e event field/value strings, c = number of (metric, increment) pairs, those pairs,
 *       and D dimension values. Hash fields are built here as `minute|metric|value`
 *       (keys.ts bucketField): the client sends each part once instead of D full fields.
 *
 * A record whose id was seen adds nothing. The increments of the records applied are
 * summed per (hash, field) so a batch does one HINCRBY per distinct field. Exactness: the
 * increments are safe integers (validated in JS), so Lua's doubles hold them and any sum
 * up to 2^53 - 1 exactly; a sum that would pass that is written out first and restarted.
 * Sums are sent back as %.0f strings, never as Lua numbers (which Redis may format with
 * an exponent); HINCRBY itself adds as a 64-bit integer.
 * Redis does not roll back a script that errors half-way; all arguments are validated in
 * JS first, so only a foreign value under our keys (WRONGTYPE) can cause that, and the
 * dedupe keys claimed first keep even that case from counting twice on replay.
 */
const WRITE_SCRIPT = `
local SAFE = 9007199254740991
local n, dims = tonumber(ARGV[4]), tonumber(ARGV[5])
local sums, touched = {}, {}
local function flush(key, field, amount)
  redis.call('HINCRBY', key, field, string.format('%.0f', amount))
end
local function add(key, field, amount)
  local byField = sums[key]
  if not byField then
    byField = {}
    sums[key] = byField
    touched[#touched + 1] = key
  end
  local acc = byField[field]
  if acc == nil then
    byField[field] = amount
  elseif acc + amount > SAFE then
    flush(key, field, acc)
    byField[field] = amount
  else
    byField[field] = acc + amount
  end
end
local i = 6
for r = 1, n do
  local hashBase = 1 + n + tonumber(ARGV[i]) * dims
  local minute = ARGV[i + 1]
  local e = tonumber(ARGV[i + 2])
  local ev = i + 3
  local c = tonumber(ARGV[ev + e])
  local pairsAt = ev + e + 1
  local valuesAt = pairsAt + 2 * c
  i = valuesAt + dims
  if redis.call('SET', KEYS[1 + r], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, ev, ev + e - 1))
    for d = 1, dims do
      local key = KEYS[hashBase + d]
      local value = ARGV[valuesAt + d - 1]
      for p = pairsAt, pairsAt + 2 * c - 1, 2 do
        add(key, minute .. '|' .. ARGV[p] .. '|' .. value, tonumber(ARGV[p + 1]))
      end
    end
  end
end
for _, key in ipairs(touched) do
  for field, amount in pairs(sums[key]) do
    flush(key, field, amount)
  end
  redis.call('EXPIRE', key, ARGV[3])
end
return n
`;
const WRITE_SCRIPT_SHA = createHash('sha1').update(WRITE_SCRIPT).digest('hex');

/** A record waiting for its batch, with the script arguments it contributes. */
interface Pending {
  seenKey: string;
  hour: number;
  /** Everything after the hour group index: minute, event, increments, dimension values. */
  args: string[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Upper bound of records per script call, because a script blocks Redis while it runs:
 * at most ~30 commands per record, so a full batch stays around a millisecond. The
 * Recorder keeps 16 writes in flight, so its batches are smaller still.
 */
const MAX_BATCH = 64;

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
  #batch: Pending[] = [];
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
  }

  /**
   * Queues the record for this event-loop turn's batch; resolves once the batch is applied.
   * Batching spares Redis one script call, and most HINCRBYs, per record: Redis shares the
   * machine with the proxy, so its CPU is the proxy's throughput (npm run bench).
   */
  write(r: RequestRecord): Promise<void> {
    // Anything thrown in here (closed store, invalid record) rejects this record's promise only.
    return new Promise((resolve, reject) => {
      this.#assertOpen();
      assertValidRecord(r);
      const pending = this.#encode(r, resolve, reject);
      if (this.#batch.length === 0) setImmediate(() => this.#sendBatch());
      this.#batch.push(pending);
      if (this.#batch.length >= MAX_BATCH) this.#sendBatch();
    });
  }

  /** The script arguments of one record (see WRITE_SCRIPT), computed while its caller waits. */
  #encode(r: RequestRecord, resolve: () => void, reject: (err: unknown) => void): Pending {
    const event = encodeEvent(r);
    const deltas = recordDeltas(r);
    const args = [String(minuteOfHour(r.ts)), String(event.length), ...event, String(deltas.length)];
    for (const [metric, n] of deltas) args.push(metric, String(n));
    for (const dim of DIMENSIONS) args.push(dimensionValue(dim, r));
    return { seenKey: this.#keys.seen(r.id), hour: hourStartSec(r.ts), args, resolve, reject };
  }

  /** One script call for every record queued so far; each caller's promise follows its outcome. */
  #sendBatch(): void {
    const batch = this.#batch;
    if (batch.length === 0) return; // already sent because it reached MAX_BATCH
    this.#batch = [];
    const hours: number[] = [];
    const args = [this.#dedupeTtl, String(this.#eventsMaxLen), this.#bucketTtl, String(batch.length), String(DIMENSIONS.length)];
    for (const p of batch) {
      let group = hours.indexOf(p.hour);
      if (group < 0) group = hours.push(p.hour) - 1;
      args.push(String(group), ...p.args);
    }
    const keys = [this.#keys.events];
    for (const p of batch) keys.push(p.seenKey);
    for (const hour of hours) for (const dim of DIMENSIONS) keys.push(this.#keys.agg(dim, hour));
    let sent: Promise<unknown>;
    try {
      sent = this.#runWriteScript(keys, args);
    } catch (err) {
      // We run from a timer or inside another record's write(): a synchronous throw must not escape.
      sent = Promise.reject(err);
    }
    sent.then(
      () => {
        for (const p of batch) p.resolve();
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }

  /**
   * EVALSHA, and EVAL when the server answers NOSCRIPT (a restart emptied its script cache).
   * Not defineCommand: with a key count that varies per batch, a defined command's first
   * argument is that count, and ioredis auto-pipelining routes a Cluster command by its
   * first argument; for EVALSHA it knows where the keys are.
   */
  #runWriteScript(keys: string[], args: string[]): Promise<unknown> {
    return this.#client.evalsha(WRITE_SCRIPT_SHA, keys.length, ...keys, ...args).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return this.#client.eval(WRITE_SCRIPT, keys.length, ...keys, ...args);
    });
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
    await quitClient(this.#client);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisStore is closed');
  }
}
