/** Every recorded-style stream in test/fixtures/sse with the exact outcome it must produce. */
import type { UsageOutcome } from '../../../src/core/usage.ts';
import { outcome, usage } from './helpers.ts';

export interface SseCase {
  file: string;
  /** What the fixture pins. */
  why: string;
  expected: UsageOutcome;
}

const SONNET = 'claude-sonnet-4-5-20250929';
const OPUS = 'claude-opus-4-1-20250805';

const basicUsage = usage({
  input: 25,
  output: 15,
  cacheCreation5m: 0,
  cacheCreation1h: 0,
  serviceTier: 'standard',
});

export const SSE_CASES: readonly SseCase[] = [
  {
    file: 'basic-text.sse',
    why: 'text reply: message_start seeds, final output from message_delta replaces the placeholder',
    expected: outcome({
      usage: basicUsage,
      model: SONNET,
      stopReason: 'end_turn',
      messageId: 'msg_01XFDUDYJgAACzvnptvVoYEL',
    }),
  },
  {
    file: 'crlf.sse',
    why: 'the same stream with \\r\\n line endings',
    expected: outcome({
      usage: basicUsage,
      model: SONNET,
      stopReason: 'end_turn',
      messageId: 'msg_01CRLFvariantPtvVoYEL01',
    }),
  },
  {
    file: 'tool-use.sse',
    why: 'tool_use block with input_json_delta; stop_reason tool_use',
    expected: outcome({
      usage: usage({ input: 472, output: 89, cacheCreation5m: 0, cacheCreation1h: 0, serviceTier: 'standard' }),
      model: OPUS,
      stopReason: 'tool_use',
      messageId: 'msg_014p7gG3wDgGV9EUtLvnow3U',
    }),
  },
  {
    file: 'cache-split.sse',
    why: 'cache hit + write with the 5m/1h split, only in message_start; inference_geo us',
    expected: outcome({
      usage: usage({
        input: 12,
        output: 220,
        cacheCreation: 3000,
        cacheCreation5m: 1000,
        cacheCreation1h: 2000,
        cacheRead: 12000,
        serviceTier: 'standard',
        inferenceGeo: 'us',
      }),
      model: SONNET,
      stopReason: 'end_turn',
      messageId: 'msg_01Bq8fGJ7YQm3cSkH2ZqTn6v',
    }),
  },
  {
    file: 'web-search.sse',
    why: 'final message_delta carries input, cache counters and server_tool_use (docs example)',
    expected: outcome({
      usage: usage({
        input: 10682,
        output: 510,
        cacheCreation5m: 0,
        cacheCreation1h: 0,
        webSearchRequests: 1,
        serviceTier: 'standard',
      }),
      model: OPUS,
      stopReason: 'end_turn',
      messageId: 'msg_01G5bH8s3CwVfS2yoN8u1kXm',
    }),
  },
  {
    file: 'multi-delta.sse',
    why: 'three cumulative message_delta events: last values win, nothing is summed',
    expected: outcome({
      usage: usage({
        input: 9344,
        output: 163,
        cacheCreation: 512,
        cacheCreation5m: 512,
        cacheCreation1h: 0,
        cacheRead: 4096,
        webSearchRequests: 2,
        webFetchRequests: 1,
        serviceTier: 'priority',
        inferenceGeo: 'global',
      }),
      model: SONNET,
      stopReason: 'end_turn',
      messageId: 'msg_01MuLt1De1taSrvT00lsXyZ9',
    }),
  },
  {
    file: 'ping-heavy.sse',
    why: 'pings everywhere, a thinking block, null cache counters and no split in message_start',
    expected: outcome({
      usage: usage({ input: 88, output: 312, serviceTier: 'standard' }),
      model: SONNET,
      stopReason: 'end_turn',
      messageId: 'msg_01P1ngHeavyThinkingStrm7q',
    }),
  },
  {
    file: 'error-mid-stream.sse',
    why: 'overloaded_error after HTTP 200: partial usage, no message_stop; output estimated from the 53 characters streamed',
    expected: outcome({
      usage: usage({
        input: 3510,
        output: 1 + Math.ceil(53 / 3), // message_start's count, plus the text after it at 3 characters a token
        cacheCreation5m: 0,
        cacheCreation1h: 0,
        cacheRead: 2048,
        serviceTier: 'standard',
      }),
      model: OPUS,
      partial: true,
      estimated: true,
      errorType: 'overloaded_error',
      messageId: 'msg_01ErrMidStreamOverldd4Xq',
    }),
  },
  {
    file: 'delta-omits-input.sse',
    why: 'message_delta with input null, then omitted: message_start input is kept, never zeroed',
    expected: outcome({
      usage: usage({
        input: 472,
        output: 89,
        cacheCreation: 1200,
        cacheCreation5m: 200,
        cacheCreation1h: 1000,
        cacheRead: 1024,
        serviceTier: 'standard',
      }),
      model: 'claude-haiku-4-5-20251001',
      stopReason: 'max_tokens',
      messageId: 'msg_01NoInputInDeltaKeepSt4rt',
    }),
  },
  {
    file: 'cache-total-changes.sse',
    why: 'a delta raises cache_creation 1000 -> 1500: the extra 500 goes to the 5m part',
    expected: outcome({
      usage: usage({
        input: 5210,
        output: 402,
        cacheCreation: 1500,
        cacheCreation5m: 900,
        cacheCreation1h: 600,
        cacheRead: 1000,
        webSearchRequests: 1,
        serviceTier: 'standard',
      }),
      model: SONNET,
      stopReason: 'end_turn',
      messageId: 'msg_01CacheTotalMovesInDelta1',
    }),
  },
];
