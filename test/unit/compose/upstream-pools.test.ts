/** Pools across reloads (compose/upstreams.ts): kept while an upstream's connection settings hold, retired after its last request. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/types.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { UpstreamPools } from '../../../src/compose/upstreams.ts';
import type { Forwarder } from '../../../src/upstream/forward.ts';

const config = (routes: string): Config => loadConfig({ file: '/etc/cm/c.yaml', env: {}, readFile: () => `upstreams:\n${routes}` });
const hs = (extra = '') => `  - name: hs\n    url: https://hs.example\n    api: anthropic\n    route: /hs\n${extra}`;
const cn = `  - name: cn\n    url: https://cn.example\n    api: openai\n    route: /cn\n`;
const pricer = buildPricer(config(''));

test('an unchanged upstream keeps its pool; a changed or removed one is retired once its requests have ended', async (t) => {
  const pools = new UpstreamPools();
  t.after(() => pools.close());
  const a = pools.build(config(hs() + cn), pricer);
  pools.commit(a);
  // Not its key, its billing, nor select_by_header: the connections are what a pool is.
  const b = pools.build(config(hs('    api_key: sk-new\n    select_by_header: true\n') + cn), pricer);
  assert.equal(b.byName.get('hs')?.forwarder, a.byName.get('hs')?.forwarder);
  assert.equal(b.default.forwarder, a.default.forwarder);
  assert.notEqual(b.byName.get('hs'), a.byName.get('hs'), 'a new Upstream each snapshot, on the same pool');
  pools.commit(b);
  assert.equal(pools.retiring, 0);

  const c = pools.build(config(hs('    connect_timeout_ms: 500\n')), pricer);
  assert.notEqual(c.byName.get('hs')?.forwarder, b.byName.get('hs')?.forwarder, 'a changed timeout: a new pool');
  b.byName.get('hs')?.inFlight.begin(); // a request that selected hs before the reload
  pools.commit(c);
  await Promise.resolve();
  assert.equal(pools.retiring, 1, 'cn (idle) is closed at once; hs waits for its request');
  b.byName.get('hs')?.inFlight.end();
  await Promise.resolve();
  assert.equal(pools.retiring, 0);
});

test('an injected forwarder serves the default upstream for the graph’s whole life; a set built but never committed closes nothing', () => {
  let closed = 0;
  const injected: Forwarder = { forward: () => {}, close: () => void closed++ };
  const pools = new UpstreamPools(injected);
  const a = pools.build(config(hs()), pricer);
  pools.commit(a);
  const changed = config(hs());
  const b = pools.build({ ...changed, upstream: { ...changed.upstream, name: 'renamed', connections: 3 } }, pricer);
  assert.equal(b.default.forwarder, injected);
  pools.build(config(''), pricer); // e.g. a reload that failed after building
  pools.commit(b);
  assert.equal(closed, 0);
  assert.throws(() => pools.commit(new UpstreamPools().build(config(''), pricer)), /did not build/);
  pools.close();
  assert.equal(closed, 1);
});
