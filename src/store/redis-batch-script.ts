/**
 * BATCH_SCRIPT: the usual write path of RedisStore. The batch's bucket increments are summed
 * here, in JS, so Redis does one HINCRBY per distinct field and no per-record arithmetic; the
 * script applies only if every record of the batch is new, and refuses it otherwise (the
 * store then sends it through EXACT_SCRIPT).
 */
import { bucketField, DIMENSIONS, fieldMinute, type BucketCounter, type KeySchema } from './keys.ts';
import { hourGroups, hourKeys, luaScript, type EncodedRecord, type ScriptCall } from './redis-batch.ts';

/*
 * KEYS: [1] record stream  [2 .. 1+S] the distinct dedupe sets of the batch  [2+S .. 1+S+H] hour hashes
 * ARGV: [1] dedupe ttl s  [2] stream max len  [3] bucket ttl s  [4] N  [5] S  [6] H  [7] stream entry field name
 *       then per record: its dedupe set (1..S), its id, its stream entry value;
 *       then M = number of increments, then M triples (hash 1..H, field, integer string).
 * Returns N, or 0 without writing anything when a record id is in its dedupe set already
 * (the caller then sends the batch through EXACT_SCRIPT; ids twice in one batch go there
 * directly). One SMISMEMBER and one variadic SADD per dedupe set (a batch usually has one),
 * not two calls per record: fewer calls and fewer KEYS.
 * SMISMEMBER needs Redis 6.2; on an older server the check falls back to SISMEMBER per id.
 */
export const BATCH_SCRIPT = luaScript(`
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
`);

/** KEYS and ARGV of BATCH_SCRIPT: stream entries, then increments summed per (hour hash, field). `common`: ARGV 1-3. */
export function batchScriptArgs(batch: readonly EncodedRecord[], keys: KeySchema, common: readonly string[]): ScriptCall {
  const { hours, groupOf } = hourGroups(batch);
  const sets: string[] = [];
  const setOf = new Map<string, string>();
  const args = [...common, String(batch.length), '', String(hours.length * DIMENSIONS.length), batch[0]?.entry[0] ?? ''];
  // First by (hour, minute, dimension values): records of one caller and model in one
  // minute share every field, so fields are built once per group, not once per record.
  const groups = new Map<string, { group: number; minute: number; dims: string[]; sums: Map<BucketCounter, Sum> }>();
  batch.forEach((p, i) => {
    let set = setOf.get(p.seenKey);
    if (set === undefined) setOf.set(p.seenKey, (set = String(sets.push(p.seenKey))));
    args.push(set, p.id, p.entry[1]);
    const group = groupOf[i]!;
    const gk = `${group}|${p.minute}|${p.dimsKey}`;
    let g = groups.get(gk);
    if (g === undefined) groups.set(gk, (g = { group, minute: p.minute, dims: p.dims, sums: new Map() }));
    for (const [counter, n] of p.deltas) addSum(g.sums, counter, n);
  });
  // Then per (hash, field): groups differing in one dimension share the others' fields.
  const fields = new Map<string, { hash: number; field: string; sum: Sum }>();
  for (const g of groups.values()) {
    for (let d = 0; d < g.dims.length; d++) {
      const hash = g.group * DIMENSIONS.length + d + 1;
      for (const [counter, sum] of g.sums) {
        const field = bucketField(fieldMinute(DIMENSIONS[d]!, g.minute), counter, g.dims[d]!);
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
  return [[keys.records, ...sets, ...hourKeys(hours, keys)], args];
}

/** An exact integer sum: a safe-integer part plus a bigint overflow (a batch of large costs passes 2^53). */
interface Sum {
  n: number;
  big: bigint;
}

function addSum<K>(sums: Map<K, Sum>, key: K, n: number): void {
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
