/**
 * The request every phase sends: a realistic, small Messages call, or with
 * BENCH_FORMAT=openai the same conversation as an OpenAI-format chat completion
 * (`POST /v1/chat/completions`, a bearer key), metered by the OpenAI dialect.
 *
 * Load runs rotate through BENCH_KEYS distinct API keys (default 8), so a `per_key`
 * budget sees that many active instances, e.g. BENCH_KEYS=1000 for the many-keys case.
 */
const OPENAI = process.env['BENCH_FORMAT'] === 'openai';

export const MESSAGES_PATH = OPENAI ? '/v1/chat/completions' : '/v1/messages';

export const KEYS = (() => {
  const v = process.env['BENCH_KEYS'];
  const n = v === undefined || v === '' ? 8 : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_KEYS must be a positive integer, got '${v}'`);
  return n;
})();

/** The i-th bench key: same length and shape as a real one, distinct per i. */
function apiKey(i: number): string {
  const tail = String(i).padStart(6, '0');
  return OPENAI ? `sk-bench-${tail}${'0'.repeat(34)}` : `sk-ant-api03-bench-${tail}${'0'.repeat(34)}`;
}

/** The headers of a request sent with the i-th key. */
export function headersFor(i: number): Record<string, string> {
  return OPENAI
    ? { 'content-type': 'application/json', authorization: `Bearer ${apiKey(i)}`, 'user-agent': 'claude-meter-bench/1' }
    : {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'x-api-key': apiKey(i),
        'user-agent': 'claude-meter-bench/1',
      };
}

/** One key's headers, for the sequential phases (streaming, memory). */
export const HEADERS: Record<string, string> = headersFor(0);

/**
 * autocannon's `requests`: one request per key, which every connection cycles through in
 * order; autocannon builds each once per run, so rotating keys costs it nothing per request.
 * A new array per run: autocannon stores the built request (with its Host) on these objects.
 */
export function keyedRequests(): Array<{ headers: Record<string, string> }> {
  return Array.from({ length: KEYS }, (_, i) => ({ headers: headersFor(i) }));
}

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
