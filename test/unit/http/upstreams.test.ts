/** Routing (http/upstreams.ts) over the Upstream objects a config builds (compose/upstreams.ts): prefix, header, default. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load.ts';
import { buildPricer } from '../../../src/pricing/build.ts';
import { UpstreamPools, upstreamHealth } from '../../../src/compose/upstreams.ts';
import { selectUpstream, upstreamPath, type UpstreamSet } from '../../../src/http/upstreams.ts';
import { anthropic } from '../../../src/api/anthropic/index.ts';

const YAML = `
upstream:
  name: anthropic
  api_key: sk-default
upstreams:
  - name: hs
    url: https://user:pw@holysheep.example/relay-token
    api: anthropic
    route: /hs
    select_by_header: true
  - name: hs-cn
    url: https://cn.holysheep.example
    api: anthropic
    route: /hs-cn/v2
    api_key: sk-cn
  - name: relay
    url: https://relay.example
    api: openai
    route: /relay/openai
    api_key: sk-relay
`;

function build(t: TestContext): UpstreamSet {
  const config = loadConfig({ file: '/etc/cm/c.yaml', env: {}, readFile: () => YAML });
  const pools = new UpstreamPools();
  const set = pools.build(config, buildPricer(config));
  pools.commit(set);
  t.after(() => pools.close());
  return set;
}

/** The name and the path the upstream sees, or null for a refusal. */
function route(set: UpstreamSet, path: string, header?: string): [string, string] | null {
  const u = selectUpstream(set, path, header);
  return u === null ? null : [u.name, upstreamPath(u, path)];
}

test('a route prefix on a segment boundary selects its upstream and is removed from the path', (t) => {
  const set = build(t);
  assert.deepEqual(route(set, '/hs/v1/messages'), ['hs', '/v1/messages']);
  assert.deepEqual(route(set, '/hs'), ['hs', '/']);
  assert.deepEqual(route(set, '/hs/'), ['hs', '/']);
  assert.deepEqual(route(set, '/relay/openai/v1/chat/completions'), ['relay', '/v1/chat/completions']);
  assert.deepEqual(route(set, '/hs-cn/v2/v1/messages'), ['hs-cn', '/v1/messages']);
  // Not on a boundary, another case, or only part of a route: the default, path untouched.
  for (const p of ['/hsx/v1/messages', '/HS/v1/messages', '/relay/v1/messages', '/hs-cn/v1/messages', '/v1/messages'])
    assert.deepEqual(route(set, p), ['anthropic', p], p);
});

test('x-meter-upstream selects only an upstream with select_by_header (or the default); any other name is refused', (t) => {
  const set = build(t);
  assert.deepEqual(route(set, '/v1/messages', 'hs'), ['hs', '/v1/messages']);
  assert.deepEqual(route(set, '/v1/messages', ' hs '), ['hs', '/v1/messages'], 'trimmed like any header value');
  assert.deepEqual(route(set, '/v1/messages', 'anthropic'), ['anthropic', '/v1/messages']);
  for (const name of ['relay', 'hs-cn', 'nope', 'HS', '', 'hs, relay']) assert.equal(route(set, '/v1/messages', name), null, name);
  // The prefix wins over the header, whatever the header names.
  assert.deepEqual(route(set, '/relay/openai/v1/chat/completions', 'hs'), ['relay', '/v1/chat/completions']);
  assert.deepEqual(route(set, '/hs/v1/messages', 'nope'), ['hs', '/v1/messages']);
});

test('each upstream: its dialects, its own key in the request dialect’s header, its access rule, its health entry', (t) => {
  const set = build(t);
  const def = set.default;
  const hs = set.byName.get('hs');
  const relay = set.byName.get('relay');
  assert.ok(hs && relay);
  assert.equal(def.dialect, anthropic);
  assert.equal(def.alternate?.name, 'openai', 'an anthropic upstream meters OpenAI-format paths with the openai dialect');
  assert.equal(relay.dialect.name, 'openai');
  assert.equal(relay.alternate, null, 'an openai upstream speaks openai everywhere');
  assert.deepEqual(def.ownCredential(anthropic), { header: 'x-api-key', value: 'sk-default' });
  assert.deepEqual(relay.ownCredential(relay.dialect), { header: 'authorization', value: 'Bearer sk-relay' });
  assert.equal(hs.ownCredential(anthropic), null, 'no api_key: the client’s own credential goes');
  assert.deepEqual([def.access.injected, hs.access.injected, relay.access.injected], [true, false, true]);
  assert.notEqual(def.forwarder, hs.forwarder, 'a pool each');
  assert.deepEqual(
    set.routed.map((u) => u.name),
    ['relay', 'hs-cn', 'hs'],
    'longest route first',
  );
  assert.deepEqual(upstreamHealth(set), [
    {
      name: 'anthropic',
      api: 'anthropic',
      route: null,
      url: 'https://api.anthropic.com',
      usage_semantics: { configured: 'auto', semantics: 'openai', proven: false, evidence: null },
    },
    {
      name: 'hs',
      api: 'anthropic',
      route: '/hs',
      url: 'https://***@holysheep.example/***',
      usage_semantics: { configured: 'auto', semantics: 'openai', proven: false, evidence: null },
    },
    {
      name: 'hs-cn',
      api: 'anthropic',
      route: '/hs-cn/v2',
      url: 'https://cn.holysheep.example',
      usage_semantics: { configured: 'auto', semantics: 'openai', proven: false, evidence: null },
    },
    {
      name: 'relay',
      api: 'openai',
      route: '/relay/openai',
      url: 'https://relay.example',
      usage_semantics: { configured: 'auto', semantics: 'openai', proven: false, evidence: null },
    },
  ]);
});
