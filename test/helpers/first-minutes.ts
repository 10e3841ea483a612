/**
 * Issue #21's first minutes of a new deployment, as one would try them: a fresh proxy (empty
 * memory stores, the forecast loop on its timer) with one global day budget, on a ManualClock
 * started at 10:33:00 UTC, and 30 requests of $0.0009 (claude-haiku-4-5, 400 in / 100 out)
 * through the official SDK, one a second from 10:33:00. The loop's first update runs at the
 * start (nothing spent yet), the next at 10:33:30: the 30th request is held upstream across
 * it, so that update also sees a reservation in flight.
 */
import type { TestContext } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { startMockAnthropic } from './mock-anthropic.ts';
import { startProxy, type RunningProxy } from './start-proxy.ts';
import { budget } from './budget-config.ts';
import { ManualClock } from '../../src/lib/manual-clock.ts';

export const ADMIN_TOKEN = 'first-minutes-admin-token';
export const START = Date.parse('2026-12-07T10:33:00Z');
/** $1 / $5 per MTok: 400 × 1 + 100 × 5 = 900 µ$ a request. */
export const REQUEST_USD = 0.0009;
const USAGE = { input_tokens: 400, output_tokens: 100 };

export interface FirstMinutes extends RunningProxy {
  clock: ManualClock;
  /** GET an admin route (the token sent) as JSON. */
  admin<T>(path: string): Promise<T>;
  metrics(): Promise<string>;
  /** Resolves when the forecast loop's next pass has ended (ask before moving the clock to it). */
  nextPass(): Promise<void>;
  /** The 29 requests of 10:33:00–10:33:28, then the 30th at 10:33:29, held upstream until `release()`. */
  burst(): Promise<{ release: () => Promise<void> }>;
}

export async function firstMinutes(
  t: TestContext,
  /** forecasting false: no forecast loop, so no update ever runs. */
  o: { forecasting?: boolean } = {},
): Promise<FirstMinutes> {
  const up = await startMockAnthropic(t);
  let gate: (() => void) | null = null;
  const held = new Promise<void>((r) => (gate = r));
  const body = JSON.stringify({
    id: 'msg_held',
    type: 'message',
    role: 'assistant',
    model: 'claude-haiku-4-5',
    content: [{ type: 'text', text: 'hello' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: USAGE,
  });
  let n = 0;
  let arrived: () => void = () => undefined;
  const thirtieth = new Promise<void>((r) => (arrived = r));
  up.setScenario(() => {
    if (++n !== 30) return { kind: 'message', usage: USAGE };
    arrived();
    return {
      kind: 'gated',
      headers: { 'content-type': 'application/json', 'request-id': 'req_held' },
      first: body.slice(0, 20),
      rest: body.slice(20),
      gate: held,
    };
  });
  const clock = new ManualClock(START);
  const proxy = await startProxy(t, {
    upstream: up.url,
    clock,
    ...(o.forecasting === undefined ? {} : { forecasting: o.forecasting }),
    config: {
      admin: { token: ADMIN_TOKEN },
      budgets: [budget({ name: 'daily', limit_usd: 5, window: 'day' })],
    },
  });
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const client = new Anthropic({ apiKey: 'sk-ant-first-minutes-RAW', baseURL: proxy.url, maxRetries: 0 });
  const ask = () => client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 200, messages: [{ role: 'user', content: 'hi' }] });
  return {
    ...proxy,
    clock,
    admin: async <T>(path: string) => (await (await fetch(`${proxy.url}${path}`, { headers: auth })).json()) as T,
    metrics: async () => (await fetch(`${proxy.url}/metrics`, { headers: auth })).text(),
    nextPass: () => new Promise<void>((r) => proxy.app.forecasts.onPass(r)),
    async burst() {
      for (let i = 0; i < 29; i++) {
        await ask();
        await clock.advance(1000);
      }
      const last = ask();
      await thirtieth; // forwarded, so its reservation is in the ledger
      return {
        release: async () => {
          gate?.();
          await last;
        },
      };
    },
  };
}
