/**
 * The request every phase sends: a realistic, small Messages call, or with
 * BENCH_FORMAT=openai the same conversation as an OpenAI-format chat completion
 * (`POST /v1/chat/completions`, a bearer key), metered by the OpenAI dialect.
 */
const OPENAI = process.env['BENCH_FORMAT'] === 'openai';

export const MESSAGES_PATH = OPENAI ? '/v1/chat/completions' : '/v1/messages';

export const HEADERS: Record<string, string> = OPENAI
  ? {
      'content-type': 'application/json',
      authorization: 'Bearer sk-bench-0000000000000000000000000000000000000000',
      'user-agent': 'claude-meter-bench/1',
    }
  : {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'x-api-key': 'sk-ant-api03-bench-0000000000000000000000000000000000000000',
      'user-agent': 'claude-meter-bench/1',
    };

const SYSTEM = 'You are a helpful assistant. Answer concisely.';
const QUESTION = 'Summarise the trade-offs of running a metering proxy in front of an LLM API, in one paragraph.';

export function messagesBody(stream: boolean): string {
  if (OPENAI)
    return JSON.stringify({
      model: 'claude-sonnet-4-5-20250929',
      max_completion_tokens: 1024,
      ...(stream ? { stream: true } : {}),
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: QUESTION },
      ],
    });
  return JSON.stringify({
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 1024,
    ...(stream ? { stream: true } : {}),
    system: SYSTEM,
    messages: [{ role: 'user', content: QUESTION }],
  });
}
