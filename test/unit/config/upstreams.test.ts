/** `upstreams:`: routes, names, the api enum, keys checked per upstream, and what check-config shows of them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load.ts';
import { describeConfig } from '../../../src/config/describe.ts';
import { hashKey } from '../../../src/http/identify.ts';
import { assertConfigError } from './helpers.ts';

const FILE = '/etc/cm/proxy.config.yaml';
const load = (text: string) => loadConfig({ file: FILE, env: {}, readFile: () => text });
const routed = (name: string, route: string, extra = '') =>
  `  - name: ${name}\n    url: https://relay.example\n    api: anthropic\n    route: '${route}'\n${extra}`;
const list = (...items: string[]) => `upstreams:\n${items.join('')}`;
const refused = (text: string, at: string, reason: string) =>
  assertConfigError(() => load(text), `${FILE}: config error at ${at}: ${reason}`);

test('a routed upstream: defaults filled, route kept as written, select_by_header off', () => {
  const c = load(list(routed('holysheep', '/holysheep'), routed('relay', '/relay/openai', '    api_key: sk-relay\n')));
  assert.equal(c.upstreams.length, 2);
  assert.deepEqual(
    c.upstreams.map((u) => [u.name, u.route, u.select_by_header, u.api_key, u.headers_timeout_ms]),
    [
      ['holysheep', '/holysheep', false, null, 600_000],
      ['relay', '/relay/openai', false, 'sk-relay', 600_000],
    ],
  );
  assert.equal(c.upstream.name, 'default');
  assert.deepEqual(load('').upstreams, []);
});

test('unknown api: the enum error names the key path and the choices, for the default and a routed upstream', () => {
  refused('upstream:\n  api: gemini\n', 'upstream.api', "must be one of 'anthropic', 'openai', got 'gemini'");
  refused(
    list(routed('a', '/a').replace('api: anthropic', 'api: Anthropic')),
    'upstreams[0].api',
    "must be one of 'anthropic', 'openai', got 'Anthropic' (did you mean 'anthropic'?)",
  );
  refused('upstreams:\n  - name: a\n    url: https://x.example\n    route: /a\n', 'upstreams[0].api', 'missing required key');
  refused('upstreams:\n  - name: a\n    url: https://x.example\n    api: openai\n', 'upstreams[0].route', 'missing required key');
});

test('a route must be a canonical path prefix: leading slash, no trailing slash, no query, no other spelling', () => {
  refused(list(routed('a', 'holysheep')), 'upstreams[0].route', "must start with '/', got 'holysheep' (did you mean '/holysheep'?)");
  refused(list(routed('a', '/holysheep/')), 'upstreams[0].route', "must not end with '/', got '/holysheep/' (did you mean '/holysheep'?)");
  refused(list(routed('a', '/')), 'upstreams[0].route', "must name a path prefix: '/' would take every request from the default upstream");
  refused(
    list(routed('a', '/holy%73heep')),
    'upstreams[0].route',
    "must be a canonical path without a query, as requests are matched, got '/holy%73heep' (did you mean '/holysheep'?)",
  );
  refused(
    list(routed('a', '/a//b')),
    'upstreams[0].route',
    "must be a canonical path without a query, as requests are matched, got '/a//b' (did you mean '/a/b'?)",
  );
  refused(
    list(routed('a', '/a?x=1')),
    'upstreams[0].route',
    "must be a canonical path without a query, as requests are matched, got '/a?x=1'",
  );
  refused(
    list(routed('a', '/a/../b')),
    'upstreams[0].route',
    "must be a canonical path without a query, as requests are matched, got '/a/../b' (did you mean '/b'?)",
  );
});

test("a route may not shadow the proxy's own routes or the default upstream's API paths, in any case", () => {
  refused(list(routed('a', '/_meter')), 'upstreams[0].route', "'/_meter' would shadow the proxy's own /_meter routes");
  refused(list(routed('a', '/_meter/relay')), 'upstreams[0].route', "'/_meter/relay' would shadow the proxy's own /_meter routes");
  refused(list(routed('a', '/metrics')), 'upstreams[0].route', "'/metrics' would shadow the proxy's /metrics");
  refused(list(routed('a', '/v1')), 'upstreams[0].route', "'/v1' would shadow the default upstream's API paths (/v1/...)");
  refused(list(routed('a', '/V1/relay')), 'upstreams[0].route', "'/V1/relay' would shadow the default upstream's API paths (/v1/...)");
  // Only the first segment is reserved, and only whole: these are plain routes.
  assert.equal(load(list(routed('a', '/v1x'), routed('b', '/relay/v1'), routed('c', '/metricsx'))).upstreams.length, 3);
});

test('no route equals, or is a segment prefix of, another; a shared prefix without a boundary is fine', () => {
  refused(
    list(routed('a', '/relay'), routed('b', '/relay')),
    'upstreams[1].route',
    "'/relay' is the same route as upstreams[0] ('/relay')",
  );
  refused(
    list(routed('a', '/relay'), routed('b', '/relay/cn')),
    'upstreams[1].route',
    "'/relay/cn' is a path under the route of upstreams[0] ('/relay')",
  );
  refused(
    list(routed('a', '/relay/cn'), routed('b', '/relay')),
    'upstreams[1].route',
    "'/relay' is a prefix of the route of upstreams[0] ('/relay/cn')",
  );
  assert.equal(load(list(routed('a', '/relay'), routed('b', '/relay2'), routed('c', '/rel'))).upstreams.length, 3);
});

test('upstream names: unique across the default and the routed ones, and plain', () => {
  refused(list(routed('a', '/a'), routed('a', '/b')), 'upstreams[1].name', "duplicate upstream name 'a' (also upstreams[0])");
  refused(list(routed('default', '/a')), 'upstreams[0].name', "duplicate upstream name 'default' (also upstream)");
  refused(`upstream:\n  name: hs\n${list(routed('hs', '/a'))}`, 'upstreams[0].name', "duplicate upstream name 'hs' (also upstream)");
  refused(list(routed('holy sheep', '/a')), 'upstreams[0].name', "must be 1 to 64 of the characters A-Z a-z 0-9 . _ -, got 'holy sheep'");
  refused('upstream:\n  name: "a/b"\n', 'upstream.name', "must be 1 to 64 of the characters A-Z a-z 0-9 . _ -, got 'a/b'");
});

test('a per-key budget needs verified keys on every upstream it can see: a routed one that injects its key without client_key_ids is refused', () => {
  const budget = (extra = '') => `budgets:\n  - name: team\n    limit_usd: 1\n    scope: per_key\n${extra}`;
  const open = routed('hs', '/hs', '    api_key: sk-hs\n');
  refused(
    `${list(open)}${budget()}`,
    'budgets[0].scope',
    "per_key budget 'team' needs verified client keys: upstreams[0].api_key is set and upstreams[0].client_key_ids is empty, so any client can send any key",
  );
  // Listed keys on that upstream, or a budget that sees only the others, are fine.
  assert.equal(
    load(`${list(routed('hs', '/hs', `    api_key: sk-hs\n    client_key_ids: [${hashKey('sk-c')}]\n`))}${budget()}`).budgets.length,
    1,
  );
  assert.equal(load(`${list(open)}${budget('    match:\n      upstream: default\n')}`).budgets.length, 1);
});

test('check-config shows every upstream without its key or the secret parts of its URL', () => {
  const c = load(
    list(routed('hs', '/hs', '    api_key: sk-hs-secret\n').replace('https://relay.example', 'https://u:pw@relay.example/tok-9?k=q-1')),
  );
  const shown = JSON.stringify(describeConfig(c));
  for (const secret of ['sk-hs-secret', 'pw', 'tok-9', 'q-1']) assert.ok(!shown.includes(secret), secret);
  assert.match(shown, /"url":"https:\/\/\*\*\*@relay\.example\/\*\*\*"/);
});

test('a budget’s match.upstream names configured upstreams: a typo would leave a budget that matches nothing', () => {
  const budget = (m: string) => `budgets:\n  - name: b\n    limit_usd: 5\n    match:\n      upstream: ${m}\n`;
  refused(
    `${list(routed('holysheep', '/hs'))}${budget('holysheeep')}`,
    'budgets[0].match.upstream',
    "no upstream is named 'holysheeep' (configured: 'default', 'holysheep')",
  );
  refused(`${budget('[default, nope]')}`, 'budgets[0].match.upstream[1]', "no upstream is named 'nope' (configured: 'default')");
  assert.deepEqual(load(`${list(routed('holysheep', '/hs'))}${budget('[default, holysheep]')}`).budgets[0]?.match.upstream, [
    'default',
    'holysheep',
  ]);
});
