/**
 * MeterStore over Redis (single node or Cluster). Key layout: see keys.ts.
 *
 * writeBatch(): one EVALSHA per batch (the Recorder gathers records: group commit). A
 * script runs atomically, so a batch's events, counter increments and EXPIREs apply together
 * or not at all; each record's id, added to the dedupe set of its minute first, makes a replay
 * after an ambiguous failure (timeout, dropped connection after the server ran it) a no-op
 * for that record instead of a double count, whichever batch carries it.
 *
 * Two scripts. BATCH_SCRIPT takes the batch's bucket increments summed here, in JS, so
 * Redis does one HINCRBY per distinct field and no per-record arithmetic; it applies only if
 * every record in the batch is new (none of its ids in the dedupe sets). A batch holding a
 * record already written (only a replay can) comes back refused and is sent again through
 * EXACT_SCRIPT, which carries every record's own increments and skips the seen ones.
 * Measured with bench/redis-commandstats.ts at c=64: the script went from 29 to 13–19 µs of
 * Redis time per record.
 * query(): one pipeline of HGETALLs, one per hour of the range.
 */
import { createHash } from 'node:crypto';
import { Command, type Cluster, type Redis } from 'ioredis';
import { assertValidRecord, recordDeltas, RowBuilder } from './buckets.ts';
import { decodeEvent, encodeEvent } from './event-codec.ts';
import { quitClient } from './redis-client.ts';
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
  minuteStart,
  type MetricName,
  parseBucketField,
  type KeySchema,
} from './keys.ts';
import type { MeterStore, RequestRecord, StoreHealth, UsageQuery, UsageRow } from './types.ts';

export type RedisClient = Redis | Cluster;

/*
 * KEYS: [1] event stream  [2 .. 1+N] the dedupe set of record 1..N (ids written per minute of record time)
 *       then, per distinct hour of the batch, one hour hash per dimension (DIMENSIONS order)
 * ARGV: [1] dedupe ttl s  [2] stream max len  [3] bucket ttl s  [4] N  [5] dimensions D
 *       then per record: its id, hour group g (0-based), minute of hour, e = event arg count,
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
 * ids added to the dedupe set first keep even that case from counting twice on replay.
 */
const EXACT_SCRIPT = `
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
local seenSets = {}
local i = 6
for r = 1, n do
  local id = ARGV[i]
  local hashBase = 1 + n + tonumber(ARGV[i + 1]) * dims
  local minute = ARGV[i + 2]
  local e = tonumber(ARGV[i + 3])
  local ev = i + 4
  local c = tonumber(ARGV[ev + e])
  local pairsAt = ev + e + 1
  local valuesAt = pairsAt + 2 * c
  i = valuesAt + dims
  seenSets[KEYS[1 + r]] = true
  if redis.call('SADD', KEYS[1 + r], id) == 1 then
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
for key in pairs(seenSets) do
  redis.call('EXPIRE', key, ARGV[1])
end
return n
`;
const EXACT_SCRIPT_SHA = createHash('sha1').update(EXACT_SCRIPT).digest('hex');

/*
 * KEYS: [1] event stream  [2 .. 1+S] the distinct dedupe sets of the batch  [2+S .. 1+S+H] hour hashes
 * ARGV: [1] dedupe ttl s  [2] stream max len  [3] bucket ttl s  [4] N  [5] S  [6] H  [7] event field name
 *       then per record: its dedupe set (1..S), its id, its event;
 *       then M = number of increments, then M triples (hash 1..H, field, integer string).
 * Returns N, or 0 without writing anything when a record id is in its dedupe set already
 * (the caller then sends the batch through EXACT_SCRIPT; ids twice in one batch go there
 * directly). One SMISMEMBER and one variadic SADD per dedupe set (a batch usually has one),
 * not two calls per record (no Redis CPU difference could be measured through the noise;
 * it is fewer calls and fewer KEYS).
 * SMISMEMBER needs Redis 6.2; on an older server the check falls back to SISMEMBER per id.
 */
const BATCH_SCRIPT = `
local n, s, h = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ids = {}
for k = 1, s do ids[k] = {} end
for i = 8, 7 + 3 * n, 3 do
  local list = ids[tonumber(ARGV[i])]
  list[#list + 1] = ARGV[i + 1]
end
for k = 1, s do
  local seen = redis.pcall('SMISMEMBER', KEYS[1 + k], unpack(ids[k]))
  if seen.err then
    for _, id in ipairs(ids[k]) do
      if redis.call('SISMEMBER', KEYS[1 + k], id) == 1 then return 0 end
    end
  else
    for _, v in ipairs(seen) do
      if v == 1 then return 0 end
    end
  end
end
for k = 1, s do
  redis.call('SADD', KEYS[1 + k], unpack(ids[k]))
  redis.call('EXPIRE', KEYS[1 + k], ARGV[1])
end
for i = 10, 9 + 3 * n, 3 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', ARGV[7], ARGV[i])
end
local i = 8 + 3 * n
local m = tonumber(ARGV[i])
i = i + 1
for k = 1, m do
  redis.call('HINCRBY', KEYS[1 + s + tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
for k = 1, h do
  redis.call('EXPIRE', KEYS[1 + s + k], ARGV[3])
end
return n
`;
const BATCH_SCRIPT_SHA = createHash('sha1').update(BATCH_SCRIPT).digest('hex');

/** A record waiting for its batch, encoded while its caller waits. */
interface Pending {
  id: string;
  /**
   * The dedupe set of the record's minute. Per minute, not per hour: at 5,000 requests/s an
   * hour's set would hold 18 M ids, and Redis frees an expiring key in one go.
   */
  seenKey: string;
  hour: number;
  minute: number;
  /** The stream field and its value (event-codec). */
  event: [string, string];
  deltas: Array<readonly [MetricName, number]>;
  /** Its value in each of DIMENSIONS, and those joined (a grouping key). */
  dims: string[];
  dimsKey: string;
}

/**
 * Upper bound of records per script call, because a script blocks Redis while it runs:
 * a few commands per record, so a full call stays around a millisecond. Larger batches
 * are split.
 */
const MAX_BATCH = 128;

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
  #seenMinute = -1;
  #seenKeyOfMinute = '';

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

  #encode(r: RequestRecord): Pending {
    const dims: string[] = [];
    for (const dim of DIMENSIONS) dims.push(dimensionValue(dim, r));
    return {
      id: r.id,
      seenKey: this.#seenKey(minuteStart(r.ts) / 1000),
      hour: hourStartSec(r.ts),
      minute: minuteOfHour(r.ts),
      event: encodeEvent(r),
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
  async #send(batch: readonly Pending[]): Promise<unknown> {
    if (new Set(batch.map((p) => p.id)).size === batch.length) {
      const applied = await this.#runScript(BATCH_SCRIPT, BATCH_SCRIPT_SHA, batchScriptArgs(batch, this.#keys, this.#common()));
      if (applied !== 0) return applied;
    }
    return this.#runScript(EXACT_SCRIPT, EXACT_SCRIPT_SHA, exactScriptArgs(batch, this.#keys, this.#common()));
  }

  /** The first ARGV of both scripts. */
  #common(): [string, string, string] {
    return [this.#dedupeTtl, String(this.#eventsMaxLen), this.#bucketTtl];
  }

  /**
   * EVALSHA, and EVAL when the server answers NOSCRIPT (a restart emptied its script cache).
   * Not defineCommand: with a key count that varies per batch, a defined command's first
   * argument is that count, and ioredis auto-pipelining routes a Cluster command by its
   * first argument; for EVALSHA it knows where the keys are.
   */
  #runScript(script: string, sha: string, [keys, args]: [string[], string[]]): Promise<unknown> {
    return this.#command('evalsha', sha, keys, args).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return this.#command('eval', script, keys, args);
    });
  }

  /**
   * One script call as an ioredis Command sent directly: `client.evalsha(sha, n, ...keys,
   * ...args)` spread a few hundred arguments into a call per batch and went through
   * auto-pipelining, which only gathers commands issued in one tick (a batch is one command).
   * Timeouts, the offline-queue refusal and Cluster slot routing all live in sendCommand, so
   * they apply as before. ioredis' own `keyPrefix` option is not applied on this path: the
   * clients claude-meter builds never set it (the store prefixes its keys itself).
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

/** KEYS and ARGV of BATCH_SCRIPT: events, then increments summed per (hour hash, field). */
function batchScriptArgs(batch: readonly Pending[], keys: KeySchema, common: readonly string[]): [string[], string[]] {
  const { hours, groupOf } = hourGroups(batch);
  const sets: string[] = [];
  const setOf = new Map<string, string>();
  const args = [...common, String(batch.length), '', String(hours.length * DIMENSIONS.length), batch[0]?.event[0] ?? ''];
  // First by (hour, minute, dimension values): records of one caller and model in one
  // minute share every field, so fields are built once per group, not once per record.
  const groups = new Map<string, { group: number; minute: number; dims: string[]; sums: Map<string, Sum> }>();
  batch.forEach((p, i) => {
    let set = setOf.get(p.seenKey);
    if (set === undefined) setOf.set(p.seenKey, (set = String(sets.push(p.seenKey))));
    args.push(set, p.id, p.event[1]);
    const group = groupOf[i]!;
    const gk = `${group}|${p.minute}|${p.dimsKey}`;
    let g = groups.get(gk);
    if (g === undefined) groups.set(gk, (g = { group, minute: p.minute, dims: p.dims, sums: new Map() }));
    for (const [metric, n] of p.deltas) addSum(g.sums, metric, n);
  });
  // Then per (hash, field): groups differing in one dimension share the others' fields.
  const fields = new Map<string, { hash: number; field: string; sum: Sum }>();
  for (const g of groups.values()) {
    for (let d = 0; d < g.dims.length; d++) {
      const hash = g.group * DIMENSIONS.length + d + 1;
      for (const [metric, sum] of g.sums) {
        const field = bucketField(g.minute, metric as MetricName, g.dims[d]!);
        const fk = `${hash} ${field}`;
        const f = fields.get(fk);
        if (f === undefined) fields.set(fk, { hash, field, sum: { ...sum } });
        else mergeSum(f.sum, sum);
      }
    }
  }
  args[4] = String(sets.length);
  args.push(String(fields.size));
  for (const f of fields.values()) args.push(String(f.hash), f.field, sumString(f.sum));
  return [[keys.events, ...sets, ...hourKeys(hours, keys)], args];
}

/** The distinct hours of a batch in first-seen order, and each record's index into them. */
function hourGroups(batch: readonly Pending[]): { hours: number[]; groupOf: number[] } {
  const hours: number[] = [];
  const groupOf = batch.map((p) => {
    const g = hours.indexOf(p.hour);
    return g >= 0 ? g : hours.push(p.hour) - 1;
  });
  return { hours, groupOf };
}

/** The hour hashes of a batch, per group and dimension (both scripts' last KEYS). */
function hourKeys(hours: readonly number[], keys: KeySchema): string[] {
  const ks: string[] = [];
  for (const hour of hours) for (const dim of DIMENSIONS) ks.push(keys.agg(dim, hour));
  return ks;
}

/** An exact integer sum: a safe-integer part plus a bigint overflow (a batch of large costs passes 2^53). */
interface Sum {
  n: number;
  big: bigint;
}

function addSum(sums: Map<string, Sum>, key: string, n: number): void {
  const s = sums.get(key);
  if (s === undefined) sums.set(key, { n, big: 0n });
  else if (Number.isSafeInteger(s.n + n)) s.n += n;
  else {
    s.big += BigInt(s.n) + BigInt(n);
    s.n = 0;
  }
}

function mergeSum(into: Sum, from: Sum): void {
  into.big += from.big;
  if (Number.isSafeInteger(into.n + from.n)) into.n += from.n;
  else {
    into.big += BigInt(into.n) + BigInt(from.n);
    into.n = 0;
  }
}

function sumString(s: Sum): string {
  return s.big === 0n ? String(s.n) : String(s.big + BigInt(s.n));
}

/** KEYS and ARGV of EXACT_SCRIPT: every record with its own increments. */
function exactScriptArgs(batch: readonly Pending[], keys: KeySchema, common: readonly string[]): [string[], string[]] {
  const { hours, groupOf } = hourGroups(batch);
  const args = [...common, String(batch.length), String(DIMENSIONS.length)];
  batch.forEach((p, i) => {
    args.push(p.id, String(groupOf[i]), String(p.minute), String(p.event.length), ...p.event, String(p.deltas.length));
    for (const [metric, n] of p.deltas) args.push(metric, String(n));
    args.push(...p.dims);
  });
  return [[keys.events, ...batch.map((p) => p.seenKey), ...hourKeys(hours, keys)], args];
}
