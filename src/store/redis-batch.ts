/**
 * What both write scripts of RedisStore share: a record encoded for a script call, the
 * script itself (body and SHA for EVALSHA), and the KEYS both scripts end with.
 */
import { createHash } from 'node:crypto';
import { DIMENSIONS, type BucketCounter, type KeySchema } from './keys.ts';

/** A record waiting for its batch, encoded while its caller waits. */
export interface EncodedRecord {
  id: string;
  /**
   * The dedupe set of the record's minute. Per minute, not per hour: at 5,000 requests/s an
   * hour's set would hold 18 M ids, and Redis frees an expiring key in one go.
   */
  seenKey: string;
  hour: number;
  minute: number;
  /** Its stream entry: the field name and its value (record-codec.ts). */
  entry: [string, string];
  deltas: Array<readonly [BucketCounter, number]>;
  /** Its value in each of DIMENSIONS, and those joined (a grouping key). */
  dims: string[];
  dimsKey: string;
}

/** A script's KEYS and ARGV for one call. */
export type ScriptCall = [keys: string[], args: string[]];

export interface LuaScript {
  readonly lua: string;
  /** What EVALSHA names it by. */
  readonly sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** The distinct hours of a batch in first-seen order, and each record's index into them. */
export function hourGroups(batch: readonly EncodedRecord[]): { hours: number[]; groupOf: number[] } {
  const hours: number[] = [];
  const groupOf = batch.map((p) => {
    const g = hours.indexOf(p.hour);
    return g >= 0 ? g : hours.push(p.hour) - 1;
  });
  return { hours, groupOf };
}

/** The hour hashes of a batch, per group and dimension (both scripts' last KEYS). */
export function hourKeys(hours: readonly number[], keys: KeySchema): string[] {
  const ks: string[] = [];
  for (const hour of hours) for (const dim of DIMENSIONS) ks.push(keys.agg(dim, hour));
  return ks;
}
