import { Redis } from 'ioredis';
import { startRedis } from '../../test/helpers/redis-server.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { ThreadedRedisStore } from '../../src/store/threaded-redis-store.ts';
const srv = await startRedis();
const c = new Redis(srv.url);
const opts = { bucketTtlSeconds: 100, eventsMaxLen: 1000 };
const s = new ThreadedRedisStore(new RedisStore(c, opts), { url: srv.url, clusterNodes: [], store: opts });
const rec = { id: 'r1', ts: Date.now(), method: 'POST', path: '/v1/messages', model: 'm', keyId: 'k', tag: '', status: 200, stream: false, usage: null, usageMissing: 'no_usage', partial: false, costPicoUsd: 0, unpriced: false, free: false, latencyMs: 1, ttftMs: null, upstreamLatencyMs: null, errorType: null, messageId: null } as any;
try { await s.writeBatch([rec]); console.log('ok', await c.keys('*'), await s.recent(5)); } catch (e) { console.log('ERR', e); }
await s.close(); await srv.close();
