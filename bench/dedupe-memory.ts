/**
 * Redis memory per recorded request: first the dedupe set and hour hashes (the event
 * stream capped at 10 entries so it does not count), then the event stream's own bytes per
 * entry (MEMORY USAGE of an uncapped stream): `npx tsx bench/dedupe-memory.ts [checkout dir]`.
 * Pass an older checkout to compare layouts (docs/operations.md, Storage).
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from '../test/helpers/redis-server.ts';
import { rec } from '../test/contract/fixtures.ts';
import type { RequestRecord } from '../src/store/types.ts';

const dir = resolve(process.argv[2] ?? '.');
const { RedisStore } = (await import(`${dir}/src/store/redis-store.ts`)) as typeof import('../src/store/redis-store.ts');
const server = await startRedis();
const client = new Redis(server.url);
// `eventsMaxLen`: the option's name in checkouts from before it became `recordsMaxLen`.
const capped = (n: number) => ({ bucketTtlSeconds: 86_400, recordsMaxLen: n, eventsMaxLen: n });
const store = new RedisStore(client, capped(10));
const used = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
const N = 20_000;
try {
  const before = await used();
  for (let i = 0; i < N; i += 100) {
    const batch: RequestRecord[] = Array.from({ length: 100 }, () => rec({ id: randomUUID(), ts: Date.now() }));
    await store.writeBatch(batch);
  }
  console.log(`${dir}: ${((await used()) - before) / N} bytes of Redis memory per record (${N} records)`);
  const streamStore = new RedisStore(client, { ...capped(1_000_000), prefix: 'stream', ownsClient: false });
  for (let i = 0; i < N; i += 100) {
    await streamStore.writeBatch(Array.from({ length: 100 }, () => rec({ id: randomUUID(), ts: Date.now() })));
  }
  const streamBytes = Number(await client.call('MEMORY', 'USAGE', '{stream}:events', 'SAMPLES', '0'));
  console.log(`${dir}: ${(streamBytes / N).toFixed(1)} bytes per event in the stream (${N} events)`);
} finally {
  await store.close();
  await server.close();
}
