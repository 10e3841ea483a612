/**
 * Budgets through the official SDK: the 429 in Anthropic's format with retry-after and
 * x-should-retry, headroom headers, no false blocks, shadow mode, alerts, admin listing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic, type MockUpstream } from '../helpers/mock-anthropic.ts';
import { startProxy } from '../helpers/start-proxy.ts';
import { budget } from '../helpers/budget-config.ts';
import { waitFor } from '../helpers/wait.ts';

const HAIKU = 'claude-haiku-4-5'; // $1 in / $5 out per MTok
const params = { model: HAIKU, max_tokens: 1024, messages: [{ role: 'user' as const, content: 'hi' }] };
// The SDK refuses non-streaming calls this large (they could exceed 10 minutes), so these stream.
const big = { ...params, max_tokens: 64_000 };

function sdk(url: string, opts: { maxRetries?: number; tag?: string; onStatus?: (status: number) => void } = {}) {
  const { onStatus } = opts;
  return new Anthropic({
    apiKey: 'sk-budget-test',
    baseURL: url,
    maxRetries: opts.maxRetries ?? 0,
    ...(opts.tag ? { defaultHeaders: { 'x-meter-tag': opts.tag } } : {}),
    // Sees each attempt's status, the SDK's own retries included.
    ...(onStatus
      ? {
          fetch: async (input: string | URL | Request, init?: RequestInit) => fetch(input, init).then((res) => (onStatus(res.status), res)),
        }
      : {}),
  });
}

test('exhausted budget: 429 RateLimitError with our message, retry-after to the reset, x-should-retry false, budget headers', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 1000 } })); // $0.006 each
  const { url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'team-a', limit_usd: 0.01, window: 'day' })] },
  });
  const c = sdk(url);
  const first = await c.messages.create(params).withResponse();
  assert.equal(first.response.headers.get('x-meter-budget-name'), 'team-a');
  assert.equal(first.response.headers.get('x-meter-budget-limit-usd'), '0.010000');
  assert.ok(first.response.headers.get('x-meter-budget-remaining-usd'));
  // $0.006 spent, $0.004 left: the next request's expected cost no longer fits, or the one after.
  let err: unknown;
  for (let i = 0; i < 3 && !err; i++)
    err = await c.messages.create(params).then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof Anthropic.RateLimitError, String(err));
  assert.match(
    err.message,
    /budget 'team-a' \(day\) (exhausted: spent \$0\.01\d\d of \$0\.0100|nearly exhausted: spent \$0\.0060 of \$0\.0100 \(this request needs about \$0\.0\d+\)), resets \d{4}-\d\d-\d\dT00:00:00\.000Z/,
  );
  const h = err.headers;
  assert.equal(h?.get('x-should-retry'), 'false');
  const retryAfter = Number(h?.get('retry-after'));
  const reset = Date.parse(h?.get('x-meter-budget-reset') ?? '');
  assert.ok(Math.abs(retryAfter - (reset - Date.now()) / 1000) < 5, 'retry-after counts down to the reset');
  assert.equal(h?.get('x-meter-budget-name'), 'team-a');
  assert.ok(Number(h?.get('x-meter-budget-remaining-usd')) < 0.0045);
  assert.equal((err.error as { error: { type: string } }).error.type, 'rate_limit_error');
  assert.ok(up.received.length <= 2, 'the refused request never reached the upstream');
});

test('with default retries the SDK obeys x-should-retry: false and does not hammer the proxy', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 1000 } }));
  const { app, url } = await startProxy(t, { upstream: up.url, config: { budgets: [budget({ name: 'tiny', limit_usd: 0.000001 })] } });
  const err = await sdk(url, { maxRetries: 2 })
    .messages.create(params)
    .catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.RateLimitError);
  await app.flush();
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /claude_meter_budget_refusals_total\{budget="tiny",cause="nearly_exhausted"\} 1\n/);
  assert.equal(err.headers?.get('x-meter-budget-refusal'), 'nearly_exhausted');
  assert.match(metrics, /claude_meter_requests_total\{model="claude-haiku-4-5",upstream="default",status="429"\} 1\n/);
});

/**
 * An upstream whose first request holds its reservation (its body waits for release()); later
 * ones answer at once. `arrived` resolves when the first reaches it (its reservation is held);
 * `afterRelease` says, for each later one, whether it arrived after release().
 */
async function firstHeld(
  t: TestContext,
): Promise<{ up: MockUpstream; release: () => void; arrived: Promise<void>; afterRelease: boolean[] }> {
  const up = await startMockAnthropic(t);
  let released = false;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const release = (): void => {
    released = true;
    open();
  };
  let arrive!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  const afterRelease: boolean[] = [];
  const usage = { input_tokens: 10, output_tokens: 10 };
  const rest = JSON.stringify({
    id: 'm',
    type: 'message',
    role: 'assistant',
    model: HAIKU,
    content: [],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage,
  });
  let n = 0;
  up.setScenario(() => {
    if (++n === 1) {
      arrive();
      return { kind: 'gated', headers: { 'content-type': 'application/json' }, first: '', rest, gate };
    }
    afterRelease.push(released);
    return { kind: 'message', usage };
  });
  return { up, release, arrived, afterRelease };
}

test('with waiting off (max_wait_ms 0), blocked only by requests in flight: retry-after is short, x-should-retry true, and the SDK retry succeeds once they settle', async (t) => {
  const { up, release, arrived } = await firstHeld(t);
  // Cold-start reservation: ~ (bytes/3) input + min(4096, max_tokens) output at $5/MTok ≈ $0.0205; the cap fits one.
  const { url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'one-at-a-time', limit_usd: 0.03, admission: { max_wait_ms: 0, max_queue: 256 } })] },
  });
  const slow = sdk(url).messages.create({ ...params, max_tokens: 4096 });
  await arrived;
  const direct = await sdk(url)
    .messages.create({ ...params, max_tokens: 4096 })
    .catch((e: unknown) => e);
  assert.ok(direct instanceof Anthropic.RateLimitError, String(direct));
  assert.equal(direct.headers?.get('x-should-retry'), 'true');
  assert.equal(direct.headers?.get('retry-after'), '2');
  assert.match(
    direct.message,
    /has no headroom: spent \$0\.0000 \+ \$0\.02\d\d in flight of \$0\.0300; this request \(about \$0\.02\d\d\) would fit without the reservations in flight; retry/,
  );
  assert.equal(direct.headers?.get('x-meter-budget-refusal'), 'in_flight');
  // The first try is refused (still in flight); the slow one settles; the SDK's retry, after retry-after, is admitted.
  const statuses: number[] = [];
  const retried = await sdk(url, { maxRetries: 2, onStatus: (s) => (statuses.push(s), s === 429 && release()) }).messages.create({
    ...params,
    max_tokens: 4096,
  });
  assert.deepEqual(statuses, [429, 200]);
  assert.equal(retried.usage.output_tokens, 10);
  await slow;
});

test('blocked only by requests in flight, a request waits (no 429) and goes through as soon as they settle', async (t) => {
  const { up, release, arrived, afterRelease } = await firstHeld(t);
  const { app, url } = await startProxy(t, { upstream: up.url, config: { budgets: [budget({ name: 'one-at-a-time', limit_usd: 0.03 })] } });
  const slow = sdk(url).messages.create({ ...params, max_tokens: 4096 });
  await arrived;
  const waiting = sdk(url).messages.create({ ...params, max_tokens: 4096 });
  const depth = /claude_meter_budget_admission_queue_depth\{budget="one-at-a-time"\} 1\n/;
  await waitFor('the second request to queue', async () => depth.test(await (await fetch(`${url}/metrics`)).text()));
  release();
  const waited = await waiting;
  assert.equal(waited.usage.output_tokens, 10);
  assert.deepEqual(afterRelease, [true], 'it was held until the first one settled');
  await slow;
  await app.flush();
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /claude_meter_budget_admission_wait_seconds_count\{budget="one-at-a-time",outcome="admitted"\} 1\n/);
  assert.match(metrics, /claude_meter_budget_admission_queue_depth\{budget="one-at-a-time"\} 0\n/);
  assert.doesNotMatch(metrics, /claude_meter_budget_refusals_total\{/);
});

test('no false blocks: a $1 cap with max_tokens 64000 requests that cost $0.001 each admits about $1 of spend', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 500, output_tokens: 100 } })); // 500×$1 + 100×$5 = $0.001
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'dollar', scope: 'per_key', limit_usd: 1 })] },
  });
  const c = sdk(url);
  let admitted = 0;
  let firstRefusal = -1;
  for (let i = 0; i < 1100 && firstRefusal < 0; i++) {
    try {
      await c.messages.stream(big).finalMessage();
      admitted++;
    } catch (e) {
      assert.ok(e instanceof Anthropic.RateLimitError);
      firstRefusal = i;
    }
  }
  await app.flush();
  // LiteLLM-style max_tokens reservation would allow 3 ($0.32 each at $5/MTok). We must get close to 1000.
  assert.ok(admitted >= 990, `admitted only ${admitted} before the first 429`);
  assert.ok(admitted <= 1000, `admitted ${admitted}: over the cap`);
  const budgets = (await (await fetch(`${url}/_meter/budgets`)).json()) as {
    budgets: { spent_usd: number; limit_usd: number; instance: string }[];
  };
  const row = budgets.budgets[0];
  assert.ok(row);
  assert.ok(row.spent_usd <= 1 && row.spent_usd >= 0.99, `spent ${row.spent_usd}`);
});

test('shadow budgets count and report but never block', async (t) => {
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 1000 } }));
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'trial', action: 'shadow', limit_usd: 0.01 })] },
  });
  for (let i = 0; i < 5; i++) await sdk(url).messages.create(params);
  await app.flush();
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const shadow = Number(/claude_meter_budget_shadow_refusals_total\{budget="trial"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(shadow >= 3, `shadow refusals ${shadow}`);
  assert.match(metrics, /claude_meter_budget_spent_usd\{budget="trial",budget_instance="\*"\} 0\.03\n/);
  assert.doesNotMatch(metrics, /claude_meter_budget_refusals_total\{budget="trial"/);
});

test('alerts fire once per threshold per window, as a JSON webhook with a Slack text field', async (t) => {
  const got: Record<string, unknown>[] = [];
  const hook = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      got.push(JSON.parse(b) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => hook.close(() => r())));
  const up = await startMockAnthropic(t);
  up.setScenario(() => ({ kind: 'message', usage: { input_tokens: 1000, output_tokens: 200 } })); // $0.002 each
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: {
      alerts: { webhook_url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook/secret` },
      budgets: [budget({ name: 'alerting', scope: 'per_tag', limit_usd: 0.01, alert_at: [0.5, 0.8, 1.0], action: 'shadow' })],
    },
  });
  for (let i = 0; i < 8; i++) await sdk(url, { tag: 'team-x' }).messages.create(params);
  await app.flush(); // every settle made, and every alert it raised delivered: a fourth would be here too
  assert.deepEqual(
    got.map((g) => g['threshold']),
    [0.5, 0.8, 1],
  );
  assert.equal(got[0]?.['budget'], 'alerting');
  assert.equal(got[0]?.['instance'], 'team-x');
  assert.match(String(got[0]?.['text']), /budget 'alerting'.*50%/);
});

test('admin routes need the bearer token when admin.token is set; /_meter/budgets lists instances', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, {
    upstream: up.url,
    config: {
      admin: { token: 'admintok' },
      budgets: [
        budget({ name: 'by-tag', scope: 'per_tag', limit_usd: 5 }),
        budget({ name: 'all', limit_tokens: 1_000_000, window: 'month' }),
      ],
    },
  });
  await sdk(url, { tag: 'a' }).messages.create(params);
  await sdk(url, { tag: 'b' }).messages.create(params);
  assert.equal((await fetch(`${url}/_meter/budgets`)).status, 401);
  assert.equal((await fetch(`${url}/_meter/budgets`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await fetch(`${url}/_meter/health`)).status, 200, 'health stays open for probes');
  const res = await fetch(`${url}/_meter/budgets`, { headers: { authorization: 'Bearer admintok' } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    budgets: { budget: string; instance: string; status: string; window: { id: string }; spent_tokens: number }[];
  };
  assert.deepEqual(body.budgets.map((b) => `${b.budget}/${b.instance}`).sort(), ['all/*', 'by-tag/a', 'by-tag/b']);
  assert.ok(body.budgets.every((b) => b.status === 'ok'));
  assert.match(body.budgets.find((b) => b.budget === 'all')?.window.id ?? '', /^\d{4}-\d\d$/);
  assert.equal(body.budgets.find((b) => b.budget === 'all')?.spent_tokens, 30); // 2 × (10 in + 5 out)
});

test('/_meter/budgets over HTTP: a yuan budget names its currency, its amounts are yuan and its *_usd fields null; USD keeps both', async (t) => {
  const up = await startMockAnthropic(t);
  const { url } = await startProxy(t, {
    upstream: up.url,
    config: {
      exchange_rates: { USD_CNY: 7.1 },
      budgets: [budget({ name: 'dollars', limit_usd: 5 }), budget({ name: 'yuan', limit: 1000, currency: 'CNY' })],
    },
  });
  await sdk(url, { tag: 'a' }).messages.create(params);
  const { budgets } = (await (await fetch(`${url}/_meter/budgets`)).json()) as { budgets: Array<Record<string, unknown>> };
  const [d, y] = budgets;
  assert.deepEqual(
    [d?.['budget'], d?.['currency'], d?.['limit'], d?.['limit_usd'], d?.['spent'], d?.['remaining'] === d?.['remaining_usd']],
    ['dollars', 'USD', 5, 5, d?.['spent_usd'], true],
  );
  assert.ok((d?.['spent'] as number) > 0);
  assert.deepEqual(
    [y?.['budget'], y?.['currency'], y?.['spent_usd'], y?.['reserved_usd'], y?.['limit_usd'], y?.['remaining_usd']],
    ['yuan', 'CNY', null, null, null, null],
  );
  assert.ok((y?.['spent'] as number) > 0, 'the yuan budget counted the request');
  assert.ok(y && 'limit' in y && 'remaining' in y);
});

test('POST /v1/complete is billed without usage: a budget admits it on its estimate and counts its reservation, so a cap holds', async (t) => {
  const up = await startMockAnthropic(t);
  const { app, url } = await startProxy(t, {
    upstream: up.url,
    config: { budgets: [budget({ name: 'cap', limit_usd: 0.1, window: 'day' })] },
  });
  // No history: about 4096 output tokens × $5/MTok ≈ $0.0205 reserved a request, so about 4 fit under $0.10.
  const body = JSON.stringify({ model: HAIKU, max_tokens: 50_000, prompt: '\n\nHuman: hi\n\nAssistant:' });
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`${url}/v1/complete`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-complete-test', 'content-type': 'application/json' },
      body,
    });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  await app.flush();
  assert.ok(statuses.includes(429), `the cap refused the rest (statuses ${statuses.join(',')})`);
  assert.ok(up.received.length >= 3 && up.received.length <= 5, `${up.received.length} forwarded`);
  const records = (await app.store.recent(10)).filter((r) => r.status === 200);
  assert.equal(records.length, up.received.length);
  for (const r of records) assert.deepEqual([r.path, r.model, r.usageMissing], ['/v1/complete', HAIKU, 'no_usage_field']);
  const budgets = (await (await fetch(`${url}/_meter/budgets`)).json()) as { budgets: Array<{ spent_usd: number }> };
  const spent = Number(budgets.budgets[0]?.spent_usd);
  assert.ok(spent > 0.02 * up.received.length && spent <= 0.1, `each forwarded request counts its reservation: spent $${spent}`);
});
