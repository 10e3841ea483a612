/**
 * OpenAI-format traffic end to end, with the official openai SDK (and the Anthropic SDK on the
 * same relay) as clients, through the proxy to mock relays that speak the real wire formats
 * (test/helpers/mock-relay.ts): a HolySheep-like relay (Anthropic at its root, OpenAI-compatible
 * under /v1, inclusive usage, billed ¥1 per $1 of list price) and a new-api-like relay (OpenAI
 * format only, exclusive usage with its claude_cache_creation_* fields, the usage chunk sent unasked).
 *
 * Every usage is asserted as four disjoint counts and every price exactly, in USD (list) and in
 * the currency the relay bills. Hand-computed: claude-sonnet-4-6 is $3 input, $15 output,
 * $3.75 cache write (5 minutes, the default TTL when a write's TTL is not reported), $0.30 cache read.
 * The relays report 1,200 uncached input, 3,000 cache-read, 400 cache-write and 250 output tokens:
 *   1,200×3 + 3,000×0.30 + 400×3.75 + 250×15 = 9,750 $/MTok·tokens → $0.00975 = 9,750,000,000 pico-USD.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { startMockRelay, type MockRelay } from '../helpers/mock-relay.ts';
import { routed, startProxy } from '../helpers/start-proxy.ts';
import type { RequestRecord } from '../../src/store/types.ts';
import { budget as budgetDefaults } from '../helpers/budget-config.ts';

const MODEL = 'claude-sonnet-4-6';
const LIST_PICO = 9_750_000_000;
const MESSAGES = [{ role: 'user' as const, content: 'Hello' }];

async function setup(t: TestContext) {
  const def = await startMockAnthropic(t);
  const hs = await startMockRelay({ semantics: 'openai', apiKey: 'sk-hs' }, t);
  const na = await startMockRelay({ semantics: 'newapi', apiKey: 'sk-na' }, t);
  const proxy = await startProxy(t, {
    upstream: def.url,
    config: {
      upstreams: [
        routed({
          name: 'holysheep',
          url: hs.url,
          api: 'anthropic',
          route: '/holysheep',
          api_key: 'sk-hs',
          billing: { currency: 'CNY', list_price_factor: 1, pricing: { file: null, models: {} } },
        }),
        routed({
          name: 'newapi',
          url: na.url,
          api: 'openai',
          route: '/newapi',
          api_key: 'sk-na',
          billing: { currency: 'CNY', list_price_factor: 7.3, pricing: { file: null, models: {} } },
        }),
      ],
      exchange_rates: { USD_CNY: 7.1 },
    },
  });
  const openai = (route: string) => new OpenAI({ baseURL: `${proxy.url}${route}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  const last = async (): Promise<RequestRecord> => {
    await proxy.app.recorder.flush();
    const [r] = await proxy.app.store.recent(1);
    assert.ok(r, 'a record');
    return r;
  };
  return { ...proxy, hs, na, openai, last };
}

/** The four disjoint counts of a record. */
function counts(r: RequestRecord) {
  const u = r.usage;
  assert.ok(u, `usage recorded (missing: ${r.usageMissing})`);
  return { input: u.input, cacheRead: u.cacheRead, cacheCreation: u.cacheCreation, output: u.output };
}
const EXPECTED = { input: 1200, cacheRead: 3000, cacheCreation: 400, output: 250 };

function billedAt(r: RequestRecord, upstream: string, currency: string, billedPico: number): void {
  assert.equal(r.upstream, upstream);
  assert.equal(r.costPicoUsd, LIST_PICO, 'the list price, in USD');
  assert.equal(r.unpriced, false);
  assert.equal(r.currency, currency);
  assert.equal(r.billedPico, billedPico, `billed in ${currency}`);
  assert.equal(r.billedUnpriced, false);
}

/** The raw SSE text a request gets, straight from a relay or through the proxy. */
async function sseText(url: string, key: string, body: unknown): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  return res.text();
}

const lastBody = (relay: MockRelay) => JSON.parse(relay.received.at(-1)?.body.toString('utf8') ?? '{}') as Record<string, unknown>;

test('chat.completions.create through a HolySheep-like relay: four counts from inclusive usage, list USD and billed ¥ exact', async (t) => {
  const { openai, last } = await setup(t);
  const r = await openai('/holysheep').chat.completions.create({ model: MODEL, messages: MESSAGES });
  assert.equal(r.choices[0]?.message.content, 'Hello from the relay.');
  const rec = await last();
  assert.equal(rec.path, '/v1/chat/completions');
  assert.deepEqual(counts(rec), EXPECTED);
  billedAt(rec, 'holysheep', 'CNY', LIST_PICO); // ¥1 per $1 of list price
});

test('a stream that did not ask for usage: the proxy asks, meters it, and the client gets exactly what a direct call gets', async (t) => {
  const { url, hs, openai, last } = await setup(t);
  const body = { model: MODEL, messages: MESSAGES, stream: true };
  const direct = await sseText(`${hs.url}/v1/chat/completions`, 'sk-hs', body);
  assert.ok(!direct.includes('"usage"'), 'a direct stream without include_usage carries no usage');
  const proxied = await sseText(`${url}/holysheep/v1/chat/completions`, 'sk-client', body);
  assert.deepEqual(lastBody(hs)['stream_options'], { include_usage: true }, 'the relay was asked for the usage chunk');
  assert.equal(proxied, direct, 'byte-identical to the direct stream: the usage:null members and the usage chunk removed');
  assert.deepEqual(counts(await last()), EXPECTED);

  // The SDK sees the same: text, and no usage it did not ask for.
  const stream = await openai('/holysheep').chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true });
  let text = '';
  for await (const chunk of stream) {
    assert.equal(chunk.usage, undefined);
    text += chunk.choices[0]?.delta.content ?? '';
  }
  assert.equal(text, 'Hello from the relay.');
  billedAt(await last(), 'holysheep', 'CNY', LIST_PICO);
});

test('a stream that asked for usage passes untouched, byte for byte', async (t) => {
  const { url, hs, openai, last } = await setup(t);
  const body = { model: MODEL, messages: MESSAGES, stream: true, stream_options: { include_usage: true } };
  const direct = await sseText(`${hs.url}/v1/chat/completions`, 'sk-hs', body);
  const proxied = await sseText(`${url}/holysheep/v1/chat/completions`, 'sk-client', body);
  assert.equal(proxied, direct);
  assert.deepEqual(lastBody(hs), body, 'the request body forwarded unchanged');
  assert.deepEqual(counts(await last()), EXPECTED);

  const stream = openai('/holysheep').chat.completions.stream({
    model: MODEL,
    messages: MESSAGES,
    stream_options: { include_usage: true },
  });
  const done = await stream.finalChatCompletion();
  assert.equal(done.usage?.prompt_tokens, 4600);
  assert.deepEqual(counts(await last()), EXPECTED);
});

test('responses.create and responses.stream: usage from the response and from response.completed', async (t) => {
  const { openai, last } = await setup(t);
  const r = await openai('/holysheep').responses.create({ model: MODEL, input: 'Hello' });
  assert.equal(r.output_text, 'Hello from the relay.');
  let rec = await last();
  assert.equal(rec.path, '/v1/responses');
  assert.deepEqual(counts(rec), EXPECTED);
  billedAt(rec, 'holysheep', 'CNY', LIST_PICO);

  const final = await openai('/holysheep').responses.stream({ model: MODEL, input: 'Hello' }).finalResponse();
  assert.equal(final.usage?.total_tokens, 4850);
  rec = await last();
  assert.equal(rec.stream, true);
  assert.deepEqual(counts(rec), EXPECTED);
});

test('a new-api relay (exclusive prompt_tokens, unasked usage chunk): auto proves its meaning, counts exact, billed at its factor', async (t) => {
  const { openai, last, url } = await setup(t);
  const r = await openai('/newapi').chat.completions.create({ model: MODEL, messages: MESSAGES });
  assert.equal(r.usage?.prompt_tokens, 1200, 'the relay reports the uncached input only');
  const rec = await last();
  assert.deepEqual(counts(rec), EXPECTED, 'cache reads and writes are not subtracted from an exclusive prompt_tokens');
  assert.equal(rec.usage?.cacheCreation5m, 400, "new-api's claude_cache_creation_5_m_tokens");
  // ¥7.3 per $1 of list: 9,750,000,000 × 7.3 = 71,175,000,000 pico-CNY, exact.
  billedAt(rec, 'newapi', 'CNY', 71_175_000_000);

  // A stream the relay adds its usage chunk to unasked: metered, and what the relay sent passes through.
  const stream = await openai('/newapi').chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  assert.equal(text, 'Hello from the relay.');
  assert.deepEqual(counts(await last()), EXPECTED);

  type Health = { upstreams: { name: string; usage_semantics: { configured: string; semantics: string; proven: boolean } }[] };
  const health = (await (await fetch(`${url}/_meter/health`)).json()) as Health;
  const semantics = (name: string) => health.upstreams.find((u) => u.name === name)?.usage_semantics;
  assert.deepEqual(
    { ...semantics('newapi'), evidence: undefined },
    { configured: 'auto', semantics: 'anthropic', proven: true, evidence: undefined },
    'the health answer shows what auto proved',
  );
  assert.equal(semantics('holysheep')?.proven, false, 'inclusive usage proves nothing on its own: openai until proven');
});

test('the Anthropic SDK on the same relay route: Messages metered as Anthropic, billed in ¥', async (t) => {
  const { url, hs, last } = await setup(t);
  const sdk = new Anthropic({ apiKey: 'sk-client', baseURL: `${url}/holysheep`, maxRetries: 0 });
  const msg = await sdk.messages.create({ model: MODEL, max_tokens: 300, messages: MESSAGES });
  assert.equal(msg.usage.input_tokens, 1200);
  assert.equal(hs.received.at(-1)?.headers['x-api-key'], 'sk-hs', "the relay's key, in Anthropic's header");
  const rec = await last();
  assert.deepEqual(counts(rec), EXPECTED);
  billedAt(rec, 'holysheep', 'CNY', LIST_PICO);
});

test('a stream cut before its usage chunk: recorded partial, estimated from the request and the deltas seen, never $0', async (t) => {
  const { url, hs, last } = await setup(t);
  hs.cutAfter = 3;
  await fetch(`${url}/holysheep/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client' },
    body: JSON.stringify({ model: MODEL, messages: MESSAGES, stream: true }),
  })
    .then((res) => res.text())
    .catch(() => '');
  const rec = await last();
  assert.equal(rec.partial, true);
  assert.equal(rec.estimated, true);
  assert.ok(rec.usage !== null && rec.usage.input > 0 && rec.usage.output > 0, 'prompt and output estimated');
  assert.ok(rec.costPicoUsd > 0 && rec.billedPico > 0, 'never $0');
});

test("a budget's chart counts what its traffic was billed: the meter store where every upstream it sees bills in its currency, else its history", async (t) => {
  const def = await startMockAnthropic(t);
  const hs = await startMockRelay({ semantics: 'openai', apiKey: 'sk-hs' }, t);
  const cny = { currency: 'CNY', list_price_factor: 1, pricing: { file: null, models: {} } };
  const proxy = await startProxy(t, {
    upstream: def.url,
    config: {
      upstream: { billing: cny },
      upstreams: [routed({ name: 'holysheep', url: hs.url, api: 'anthropic', route: '/holysheep', api_key: 'sk-hs', billing: cny })],
      exchange_rates: { USD_CNY: 7.1 },
      budgets: [budgetDefaults({ name: 'yuan', limit: 100, currency: 'CNY' }), budgetDefaults({ name: 'dollars', limit_usd: 100 })],
    },
  });
  const client = new OpenAI({ baseURL: `${proxy.url}/holysheep/v1`, apiKey: 'sk-client', maxRetries: 0 });
  await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
  await proxy.app.recorder.flush();
  type Chart = { currency: string; source: string; spent: [string, number][] };
  const chart = async (name: string) => (await (await fetch(`${proxy.url}/_meter/chart?budget=${name}`)).json()) as Chart;
  const yuan = await chart('yuan');
  assert.deepEqual([yuan.currency, yuan.source], ['CNY', 'meter_store']);
  assert.equal(yuan.spent.at(-1)?.[1], LIST_PICO / 1e12, '¥ billed, from the meter store');
  const dollars = await chart('dollars');
  assert.deepEqual([dollars.currency, dollars.source], ['USD', 'budget_history'], 'yuan traffic converted: only the history has it');
});
