/**
 * The two sides of "the store's totals match what the upstream billed": the bill of a mock
 * upstream (the usage its answers reported, priced here from the published price list, not by
 * claude-meter's pricer), and the store's totals summed over every bucket, both as token
 * counts by kind and exact pico-USD; and a global budget's spend as the ledger holds it.
 * For a stream cut short the store holds the usage reported plus an estimate of the output
 * streamed after it: cutStream() computes that estimate from the mock's bytes by the documented
 * rule, and estimatedBill() prices it.
 */
import assert from 'node:assert/strict';
import type { App } from '../../src/app.ts';
import { TOKEN_KINDS, type TokenKind } from '../../src/core/usage.ts';
import { emptyTotals, type MeterStore, type Totals } from '../../src/store/types.ts';
import type { MockUsage } from './mock-anthropic.ts';

/** The model the fault tests ask for. */
export const SONNET = 'claude-sonnet-4-6';

/** claude-sonnet-4-6 in pico-USD per token: USD 3 / 15 / 3.75 / 6 / 0.30 per million (input, output, cache writes 5m and 1h, cache reads). */
const PICO_PER_TOKEN: Readonly<Record<TokenKind, bigint>> = {
  input: 3_000_000n,
  output: 15_000_000n,
  cache_creation_5m: 3_750_000n,
  cache_creation_1h: 6_000_000n,
  cache_read: 300_000n,
};

export interface Bill {
  tokens: Record<TokenKind, number>;
  costPicoUsd: bigint;
}

/** Tokens by kind of one answer's usage; cache writes without a TTL split are 5-minute ones. */
function tokensOf(u: MockUsage): Record<TokenKind, number> {
  const split5m = u.cache_creation?.ephemeral_5m_input_tokens ?? 0;
  const split1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  const total = u.cache_creation_input_tokens ?? split5m + split1h;
  return {
    input: u.input_tokens,
    output: u.output_tokens,
    cache_creation_5m: total - split1h,
    cache_creation_1h: split1h,
    cache_read: u.cache_read_input_tokens ?? 0,
  };
}

/** What `usages` cost at the sonnet-4-6 list price, summed exactly. */
export function bill(usages: readonly MockUsage[]): Bill {
  const out: Bill = { tokens: emptyTotals().tokens, costPicoUsd: 0n };
  for (const u of usages) {
    const t = tokensOf(u);
    for (const k of TOKEN_KINDS) {
      out.tokens[k] += t[k];
      out.costPicoUsd += BigInt(t[k]) * PICO_PER_TOKEN[k];
    }
  }
  return out;
}

/** The store's totals over every bucket of the last two days and the next one (all the tests' records). */
export async function storeTotals(store: MeterStore, now = Date.now()): Promise<Totals> {
  const day = 86_400_000;
  const rows = await store.query({ by: 'all', granularity: 'day', from: now - 2 * day, to: now + day });
  const t = emptyTotals();
  for (const { totals: r } of rows) {
    for (const k of ['requests', 'errors', 'partial', 'usageMissing', 'unpriced', 'webSearchRequests'] as const) t[k] += r[k];
    for (const k of TOKEN_KINDS) t.tokens[k] += r.tokens[k];
    t.costPicoUsd += r.costPicoUsd;
  }
  return t;
}

/** The bill part of the totals, to compare with deepEqual against bill(). */
export function billOf(t: Totals): Bill {
  return { tokens: t.tokens, costPicoUsd: t.costPicoUsd };
}

/** Spent and reserved pico-USD of the global budget `name`, in its current window. */
export async function globalBudget(app: App, name: string, now = Date.now()): Promise<{ spentPico: number; reservedPico: number }> {
  const { refs } = app.gate.catalog.refsFor({ keyId: 'any', tag: '', model: null, path: '/v1/messages', upstream: 'default' }, now);
  const ref = refs.find((r) => r.budget === name);
  if (ref === undefined) throw new Error(`no global budget named ${name}`);
  const [st] = await app.gate.ledger.state([ref], now);
  return { spentPico: st?.spentPico ?? 0, reservedPico: st?.reservedPico ?? 0 };
}

/** One stream the mock cut short, read back from the bytes it sent. */
export interface CutStream {
  /** message_start's `message.id`, to pair the stream with its record. */
  messageId: string;
  /** The output a stream cut short is charged for beyond its last reported count, by the documented method. */
  estimate: number;
  /** The output tokens the mock streamed after that count: one per text delta (each a short English word, a single token). */
  tokens: number;
}

/**
 * The documented estimate (docs/metering.md, "The output of a stream cut short"), mirrored from
 * the rule and the mock's bytes rather than taken from claude-meter's code: each
 * `content_block_delta` event's data length minus its smallest envelope, the 80 characters of
 * `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`, summed over
 * the deltas after the last `message_delta` (whose output_tokens counts what came before), ÷ 3,
 * rounded up.
 */
export function cutStream(sent: Buffer): CutStream {
  let messageId = '';
  let chars = 0;
  let tokens = 0;
  for (const frame of sent.toString('utf8').split('\n\n')) {
    const event = /^event: (.*)$/m.exec(frame)?.[1];
    const data = /^data: (.*)$/m.exec(frame)?.[1] ?? '';
    if (event === 'message_start') messageId = (JSON.parse(data) as { message: { id: string } }).message.id;
    if (event === 'message_delta') [chars, tokens] = [0, 0];
    if (event !== 'content_block_delta') continue;
    chars += Math.max(0, data.length - 80);
    tokens += 1;
  }
  return { messageId, estimate: Math.ceil(chars / 3), tokens };
}

/**
 * What the store and the budget hold for answers whose streams were cut: each answer's billed
 * usage (what it reported on the wire) with its output raised by its cut stream's estimate,
 * priced like bill(). `cuts[i]` is the stream of `billed[i]`.
 */
export function estimatedBill(billed: readonly MockUsage[], cuts: readonly CutStream[]): Bill {
  assert.equal(cuts.length, billed.length, 'one cut stream per billed answer');
  return bill(billed.map((u, i) => ({ ...u, output_tokens: u.output_tokens + (cuts[i]?.estimate ?? 0) })));
}

/**
 * The documented bound on the output recorded for what a cut stream sent after its last count:
 * never below the tokens streamed (a budget is not undercharged), at most 1.5 times them (for
 * English words of 3.5 to 4.5 characters a token, as the mock streams) plus 1 for the rounding up.
 */
export function assertEstimateBound(recorded: number, c: CutStream): void {
  assert.ok(c.tokens > 0, 'the mock streamed content before the cut');
  assert.ok(recorded >= c.tokens, `estimated ${recorded} output tokens for ${c.tokens} streamed: never under`);
  assert.ok(recorded <= 1.5 * c.tokens + 1, `estimated ${recorded} output tokens for ${c.tokens} streamed: at most 1.5x + 1`);
}

/**
 * A record of a stream cut after message_start (whose output placeholder is 1): flagged
 * `estimated`, its output 1 plus exactly the cut stream's estimate, and that estimate within
 * the documented bound.
 */
export function assertEstimatedOutput(r: { estimated: boolean; usage: { output: number } | null } | undefined, cut: CutStream): void {
  assert.equal(r?.estimated, true);
  assert.equal(r?.usage?.output, 1 + cut.estimate);
  assertEstimateBound((r?.usage?.output ?? 0) - 1, cut);
}

/** The store's totals and the global day budget's spend both equal the billed usage plus the cut streams' estimates, priced. */
export async function assertBilledWithEstimates(
  app: App,
  billed: readonly MockUsage[],
  cuts: readonly CutStream[],
  message?: string,
): Promise<void> {
  const expected = estimatedBill(billed, cuts);
  assert.deepEqual(billOf(await storeTotals(app.store)), expected, message);
  assert.deepEqual(await globalBudget(app, 'day'), { spentPico: Number(expected.costPicoUsd), reservedPico: 0 }, 'settled on the estimate');
}
