/**
 * EXACT_SCRIPT: the write path that carries every record's own increments and skips the
 * records already written (their id is in the dedupe set). RedisStore sends a batch here
 * when BATCH_SCRIPT refused it, or when it holds an id twice; only a replay can do either.
 */
import { DIMENSIONS, HOURLY_DIMENSIONS, type KeySchema } from './keys.ts';
import { hourGroups, hourKeys, luaScript, type EncodedRecord, type ScriptCall } from './redis-batch.ts';

/*
 * KEYS: [1] record stream  [2 .. 1+N] the dedupe set of record 1..N (ids written per minute of record time)
 *       then, per distinct hour of the batch, one hour hash per dimension (DIMENSIONS order)
 * ARGV: [1] dedupe ttl s  [2] stream max len  [3] bucket ttl s  [4] N  [5] dimensions D
 *       [6 .. 5+D] per dimension, the minute its fields are written at ('' = the record's own;
 *       '0' for a dimension recorded per hour, keys.ts HOURLY_DIMENSIONS), then per record: its id, hour group g (0-based), minute of hour, e = entry arg count,
 *       e stream entry field/value strings, c = number of (counter, increment) pairs, those
 *       pairs, and D dimension values. Hash fields are built here as `minute|counter|value`
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
export const EXACT_SCRIPT = luaScript(`
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
local i = 6 + dims
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
      local at = ARGV[5 + d]
      if at == '' then at = minute end
      for p = pairsAt, pairsAt + 2 * c - 1, 2 do
        add(key, at .. '|' .. ARGV[p] .. '|' .. value, tonumber(ARGV[p + 1]))
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
`);

/** KEYS and ARGV of EXACT_SCRIPT: every record with its own increments. `common`: ARGV 1-3. */
export function exactScriptArgs(batch: readonly EncodedRecord[], keys: KeySchema, common: readonly string[]): ScriptCall {
  const { hours, groupOf } = hourGroups(batch);
  const args = [...common, String(batch.length), String(DIMENSIONS.length)];
  for (const dim of DIMENSIONS) args.push(HOURLY_DIMENSIONS.has(dim) ? '0' : '');
  batch.forEach((p, i) => {
    args.push(p.id, String(groupOf[i]), String(p.minute), String(p.entry.length), ...p.entry, String(p.deltas.length));
    for (const [counter, n] of p.deltas) args.push(counter, String(n));
    args.push(...p.dims);
  });
  return [[keys.records, ...batch.map((p) => p.seenKey), ...hourKeys(hours, keys)], args];
}
