/** The request every phase sends: a realistic, small Messages call. */
export const MESSAGES_PATH = '/v1/messages';

export const HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  'anthropic-version': '2023-06-01',
  'x-api-key': 'sk-ant-api03-bench-0000000000000000000000000000000000000000',
  'user-agent': 'claude-meter-bench/1',
};

export function messagesBody(stream: boolean): string {
  return JSON.stringify({
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 1024,
    ...(stream ? { stream: true } : {}),
    system: 'You are a helpful assistant. Answer concisely.',
    messages: [{ role: 'user', content: 'Summarise the trade-offs of running a metering proxy in front of an LLM API, in one paragraph.' }],
  });
}
