/** Every OpenAI-format fixture with its declared usage semantics and the exact outcome it must give (the same under `auto`). */
import type { UsageSemantics, UsageOutcome } from '../../../src/core/usage.ts';
import { outcome, usage } from '../usage/helpers.ts';

export interface OpenAiCase {
  file: string;
  /** The semantics the upstream is declared with when it is known. */
  semantics: Exclude<UsageSemantics, 'auto'>;
  /** Endpoint path the fixture answers. */
  path: string;
  why: string;
  expected: UsageOutcome;
  /** What an `auto` proof stands at after this response (null: unproven). */
  proves: string | null;
}

const GPT = 'gpt-5.6-2026-07-01';
const SONNET = 'claude-sonnet-4-5-20250929';
const CHAT = '/v1/chat/completions';

export const JSON_CASES: readonly OpenAiCase[] = [
  {
    file: 'openai-chat.json',
    semantics: 'openai',
    path: CHAT,
    why: 'OpenAI: prompt_tokens includes cached_tokens and cache_write_tokens; reasoning inside completion_tokens',
    expected: outcome({
      usage: usage({ input: 22, cacheRead: 1920, cacheCreation: 64, output: 300, serviceTier: 'default' }),
      model: GPT,
      messageId: 'chatcmpl-CwQ3nT7kYvP1sR2aB9xZ',
    }),
    proves: null,
  },
  {
    file: 'openai-responses.json',
    semantics: 'openai',
    path: '/v1/responses',
    why: 'Responses: input_tokens includes input_tokens_details.cached_tokens',
    expected: outcome({
      usage: usage({ input: 1104, cacheRead: 4096, output: 812, serviceTier: 'default' }),
      model: GPT,
      messageId: 'resp_68f0a1b2c3d4e5f60718293a',
      stopReason: 'completed',
    }),
    proves: null,
  },
  {
    file: 'openai-completions.json',
    semantics: 'openai',
    path: '/v1/completions',
    why: 'legacy text completion',
    expected: outcome({ usage: usage({ input: 12, output: 40 }), model: 'gpt-3.5-turbo-instruct', messageId: 'cmpl-9zX1aB2cD3eF4gH5' }),
    proves: null,
  },
  {
    file: 'openai-embeddings.json',
    semantics: 'openai',
    path: '/v1/embeddings',
    why: 'embeddings: prompt_tokens only',
    expected: outcome({ usage: usage({ input: 8 }), model: 'text-embedding-3-small' }),
    proves: null,
  },
  {
    file: 'litellm-chat.json',
    semantics: 'openai',
    path: CHAT,
    why: 'LiteLLM serving Claude: inclusive prompt_tokens, top-level cache fields and the 5m/1h split',
    expected: outcome({
      usage: usage({ input: 14, cacheRead: 16384, cacheCreation: 4602, cacheCreation5m: 602, cacheCreation1h: 4000, output: 245 }),
      model: SONNET,
      messageId: 'chatcmpl-4f1c2e3d-5a6b-7c8d-9e0f-a1b2c3d4e5f6',
    }),
    proves: null,
  },
  {
    file: 'newapi-claude-chat.json',
    semantics: 'anthropic',
    path: CHAT,
    why: 'new-api serving Claude: prompt_tokens excludes the cache; writes only in claude_cache_creation_*',
    expected: outcome({
      usage: usage({ input: 14, cacheRead: 16384, cacheCreation: 4602, cacheCreation5m: 602, cacheCreation1h: 4000, output: 310 }),
      model: SONNET,
      messageId: 'msg_01Jq7n2Xb8yR4sTt6vW9zA1c',
    }),
    proves: 'claude_cache_creation tokens reported',
  },
  {
    file: 'portkey-chat.json',
    semantics: 'anthropic',
    path: CHAT,
    why: 'Portkey: exclusive prompt_tokens, total_tokens including the cache',
    expected: outcome({
      usage: usage({ input: 3000, cacheRead: 1000, output: 100 }),
      model: SONNET,
      messageId: 'msg_01PkX7yZ2aB3cD4eF5gH6iJ7',
    }),
    proves: 'total_tokens = prompt + completion + cached',
  },
  {
    file: 'deepseek-chat.json',
    semantics: 'openai',
    path: CHAT,
    why: 'DeepSeek: prompt_cache_miss_tokens is the input, hit + miss = prompt_tokens',
    expected: outcome({
      usage: usage({ input: 220, cacheRead: 1280, output: 90 }),
      model: 'deepseek-reasoner',
      messageId: '930c60df-bf64-41c9-a88e-3ec75f81e00e',
    }),
    proves: 'prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens',
  },
  {
    file: 'anthropic-compat-chat.json',
    semantics: 'openai',
    path: CHAT,
    why: "Anthropic's compatibility endpoint: no details, all input at the input rate",
    expected: outcome({ usage: usage({ input: 2100, output: 77 }), model: SONNET, messageId: 'msg_01AcCmPt9sX8yZ7wV6uT5rQ4' }),
    proves: null,
  },
  {
    file: 'openrouter-chat.json',
    semantics: 'openai',
    path: CHAT,
    why: 'OpenRouter: inclusive, cache writes in prompt_tokens_details, its cost not read',
    expected: outcome({
      usage: usage({ input: 308, cacheRead: 8192, cacheCreation: 2000, output: 420 }),
      model: 'anthropic/claude-sonnet-4.5',
      messageId: 'gen-1796540400-AbCdEfGhIjKlMnOpQrSt',
    }),
    proves: null,
  },
];

export const SSE_CASES: readonly OpenAiCase[] = [
  {
    file: 'openai-chat.sse',
    semantics: 'openai',
    path: CHAT,
    why: 'include_usage: "usage":null on every chunk, the usage on a last chunk with no choices, then [DONE]',
    expected: outcome({
      usage: usage({ input: 176, cacheRead: 1024, output: 9, serviceTier: 'default' }),
      model: GPT,
      messageId: 'chatcmpl-CwQ4aLfStReAm0001',
      stopReason: 'stop',
    }),
    proves: null,
  },
  {
    file: 'openai-chat-crlf.sse',
    semantics: 'openai',
    path: CHAT,
    why: 'the same with CRLF line endings',
    expected: outcome({
      usage: usage({ input: 176, cacheRead: 1024, output: 9, serviceTier: 'default' }),
      model: GPT,
      messageId: 'chatcmpl-CwQ4aLfStReAmCRLF',
      stopReason: 'stop',
    }),
    proves: null,
  },
  {
    file: 'openai-chat-tools.sse',
    semantics: 'openai',
    path: CHAT,
    why: 'a tool call, a content delta that is the word "usage", an obfuscation member after the usage one',
    expected: outcome({
      usage: usage({ input: 300, output: 21 }),
      model: GPT,
      messageId: 'chatcmpl-CwQ4aToOlCaLl0001',
      stopReason: 'tool_calls',
    }),
    proves: null,
  },
  {
    file: 'litellm-chat.sse',
    semantics: 'openai',
    path: CHAT,
    why: 'LiteLLM serving Claude, spaced JSON, chunks without a usage member',
    expected: outcome({
      usage: usage({ input: 14, cacheRead: 16384, cacheCreation: 4602, cacheCreation5m: 602, cacheCreation1h: 4000, output: 12 }),
      model: SONNET,
      messageId: 'chatcmpl-5a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d',
      stopReason: 'stop',
    }),
    proves: null,
  },
  {
    file: 'newapi-claude-chat.sse',
    semantics: 'anthropic',
    path: CHAT,
    why: "new-api serving Claude: its usage chunk sent unasked, Claude's meaning, a `: PING` comment",
    expected: outcome({
      usage: usage({ input: 14, cacheRead: 16384, cacheCreation: 4602, cacheCreation5m: 602, cacheCreation1h: 4000, output: 11 }),
      model: SONNET,
      messageId: 'chatcmpl-20261207120000123456789',
      stopReason: 'stop',
    }),
    proves: 'claude_cache_creation tokens reported',
  },
  {
    file: 'portkey-chat.sse',
    semantics: 'anthropic',
    path: CHAT,
    why: 'Portkey: the usage on the last content chunk, exclusive prompt_tokens',
    expected: outcome({
      usage: usage({ input: 14, cacheRead: 16384, cacheCreation: 4602, output: 8 }),
      model: SONNET,
      messageId: 'portkey-7b1e2c3d-4f5a-6b7c-8d9e-0f1a2b3c4d5e',
      stopReason: 'end_turn',
    }),
    proves: 'prompt_tokens below its cached tokens',
  },
  {
    file: 'deepseek-chat.sse',
    semantics: 'openai',
    path: CHAT,
    why: 'DeepSeek: reasoning_content deltas, hit and miss counts',
    expected: outcome({
      usage: usage({ input: 220, cacheRead: 1280, output: 90 }),
      model: 'deepseek-reasoner',
      messageId: '930c60df-bf64-41c9-a88e-3ec75f81e0aa',
      stopReason: 'stop',
    }),
    proves: 'prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens',
  },
  {
    file: 'anthropic-compat-chat.sse',
    semantics: 'openai',
    path: CHAT,
    why: "Anthropic's compatibility endpoint streamed",
    expected: outcome({ usage: usage({ input: 2100, output: 6 }), model: SONNET, messageId: 'msg_01AcCmPtStReAm5rQ4', stopReason: 'stop' }),
    proves: null,
  },
  {
    file: 'openrouter-chat.sse',
    semantics: 'openai',
    path: CHAT,
    why: 'OpenRouter: processing comments, usage always sent, cost not read',
    expected: outcome({
      usage: usage({ input: 308, cacheRead: 8192, cacheCreation: 2000, output: 7 }),
      model: 'anthropic/claude-sonnet-4.5',
      messageId: 'gen-1796540400-StReAmQrStUvWxYz0123',
      stopReason: 'stop',
    }),
    proves: null,
  },
  {
    file: 'openai-completions.sse',
    semantics: 'openai',
    path: '/v1/completions',
    why: 'a legacy completion streamed: text chunks, a usage chunk',
    expected: outcome({
      usage: usage({ input: 5, output: 7 }),
      model: 'gpt-3.5-turbo-instruct',
      messageId: 'cmpl-9zX1aB2cStReAm',
      stopReason: 'length',
    }),
    proves: null,
  },
  {
    file: 'openai-responses.sse',
    semantics: 'openai',
    path: '/v1/responses',
    why: 'Responses: named events, the usage on response.completed',
    expected: outcome({
      usage: usage({ input: 1104, cacheRead: 4096, output: 18, serviceTier: 'default' }),
      model: GPT,
      messageId: 'resp_68f0a1b2c3d4e5f6StReAm1',
      stopReason: 'completed',
    }),
    proves: null,
  },
  {
    file: 'openai-responses-incomplete.sse',
    semantics: 'openai',
    path: '/v1/responses',
    why: 'Responses: response.incomplete (max_output_tokens) ends the stream with its usage',
    expected: outcome({
      usage: usage({ input: 644, cacheCreation: 256, output: 16, serviceTier: 'default' }),
      model: GPT,
      messageId: 'resp_68f0a1b2c3d4e5f6InCmPl2',
      stopReason: 'max_output_tokens',
    }),
    proves: null,
  },
  {
    file: 'openai-responses-failed.sse',
    semantics: 'openai',
    path: '/v1/responses',
    why: 'Responses: response.failed carries the usage so far and the error code: partial',
    expected: outcome({
      usage: usage({ input: 700, output: 3, serviceTier: 'default' }),
      model: GPT,
      messageId: 'resp_68f0a1b2c3d4e5f6FaIlEd3',
      stopReason: 'failed',
      errorType: 'server_error',
      partial: true,
    }),
    proves: null,
  },
];

/** Streams and what a client that did not ask for usage receives of them (filter.ts). */
export const FILTER_PAIRS: readonly [upstream: string, client: string][] = [
  ['openai-chat.sse', 'openai-chat.client.sse'],
  ['openai-chat-crlf.sse', 'openai-chat-crlf.client.sse'],
  ['openai-chat-tools.sse', 'openai-chat-tools.client.sse'],
  ['portkey-chat.sse', 'portkey-chat.client.sse'],
];
