/**
 * Bench upstream: speaks the Anthropic Messages wire format (via the test mock's body
 * builders) but precomputes every body, so it stays cheap and equal for all targets.
 * Request selects the response:
 *   body without "stream":true   → ~1 KB JSON message with usage
 *   body with "stream":true      → ~1 KB SSE stream
 *   + header x-bench-hold-ms: N  → message_start at once, the rest N ms later (TTFT)
 *   + header x-bench-sse-bytes: N → an N-byte SSE stream of content_block_delta events, usage at the end
 *   POST /v1/chat/completions      → the same answers in OpenAI's chat format (BENCH_FORMAT=openai), the
 *                                    stream with its usage chunk when the request asks for it
 */
import http from 'node:http';
import { messageJson, messageStream, sseFrame } from '../test/helpers/mock-anthropic.ts';
import { chatJson, chatStream, chatUsage } from '../test/helpers/mock-relay.ts';
import { serveChild } from './lib/child-runtime.ts';

const MODEL = 'claude-sonnet-4-5-20250929';
const USAGE = {
  input_tokens: 412,
  output_tokens: 187,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 128,
  service_tier: 'standard',
};
const TEXT =
  'Here is a concise overview of the trade-offs you asked about. Connection pooling keeps TCP and TLS handshakes off the hot path, ' +
  'so per-request latency is dominated by the upstream itself; a proxy in front adds one loopback hop, header rewriting and a copy ' +
  'of each response chunk. Streaming responses should be forwarded chunk by chunk without buffering, otherwise time to first token ' +
  'grows with the size of the answer. Usage accounting can be done on a passive copy of the bytes: parse only the events that carry ' +
  'usage, skip the deltas, and write the totals asynchronously so the client never waits for storage. Memory stays flat when ' +
  'backpressure is respected end to end.';

const JSON_BODY = Buffer.from(messageJson({ usage: USAGE, model: MODEL, text: TEXT, id: 'msg_bench_0000000000000001' }));
const SSE_BODY = messageStream({ usage: USAGE, model: MODEL, text: TEXT.slice(0, 420), id: 'msg_bench_0000000000000002' });
const SSE_SPLIT = SSE_BODY.indexOf('\n\n') + 2; // end of the message_start frame
const SSE_FIRST = Buffer.from(SSE_BODY.slice(0, SSE_SPLIT));
const SSE_REST = Buffer.from(SSE_BODY.slice(SSE_SPLIT));

const CHAT_USAGE = chatUsage({ input: 412, cacheRead: 128, cacheWrite5m: 0, cacheWrite1h: 0, output: 187 }, 'openai');
const CHAT_JSON = Buffer.from(chatJson(MODEL, CHAT_USAGE));
const CHAT_SSE = Buffer.from(chatStream(MODEL, CHAT_USAGE, false).join(''));
const CHAT_SSE_USAGE = Buffer.from(chatStream(MODEL, CHAT_USAGE, true).join(''));

/** Headers the real API sends with every answer; forwarding them is part of a proxy's cost. */
const COMMON = {
  'request-id': 'req_bench_01',
  'anthropic-organization-id': '00000000-0000-0000-0000-000000000000',
  'anthropic-ratelimit-requests-limit': '4000',
  'anthropic-ratelimit-requests-remaining': '3999',
  'anthropic-ratelimit-input-tokens-limit': '2000000',
  'anthropic-ratelimit-input-tokens-remaining': '1999588',
  'anthropic-ratelimit-output-tokens-limit': '400000',
  'anthropic-ratelimit-output-tokens-remaining': '399813',
};
const JSON_HEADERS = { ...COMMON, 'content-type': 'application/json', 'content-length': String(JSON_BODY.length) };
const SSE_HEADERS = { ...COMMON, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

/** One 64 KiB-ish block of whole delta events, written again and again for the big stream. */
const DELTA = sseFrame('content_block_delta', {
  type: 'content_block_delta',
  index: 0,
  delta: { type: 'text_delta', text: 'lorem ipsum dolor ' },
});
const PER_BLOCK = Math.floor(65_536 / DELTA.length);
const BLOCK = Buffer.from(DELTA.repeat(PER_BLOCK));

async function bigStream(res: http.ServerResponse, bytes: number): Promise<void> {
  const blocks = Math.max(1, Math.ceil(bytes / BLOCK.length));
  const input = 1234;
  res.writeHead(200, SSE_HEADERS);
  res.write(
    sseFrame('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_bench_big',
        type: 'message',
        role: 'assistant',
        content: [],
        model: MODEL,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: input, output_tokens: 1 },
      },
    }) + sseFrame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  );
  for (let i = 0; i < blocks; i++) {
    if (res.destroyed) return;
    // Respect backpressure: the point is to see whether the proxy's memory stays flat, not ours.
    if (!res.write(BLOCK)) await new Promise((r) => res.once('drain', r));
  }
  const usage = { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: blocks * PER_BLOCK };
  res.end(
    sseFrame('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      sseFrame('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage }) +
      sseFrame('message_stop', { type: 'message_stop' }),
  );
}

/** Answers sent to their last byte, by kind: what this upstream billed (each carries USAGE). */
const served = { json: 0, sse: 0 };

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const stream = body.includes('"stream":true');
    if (req.url?.startsWith('/v1/chat/completions')) {
      res.once('finish', () => (stream ? served.sse++ : served.json++));
      if (!stream)
        return void res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(CHAT_JSON.length) }).end(CHAT_JSON);
      res.writeHead(200, SSE_HEADERS);
      return void res.end(body.includes('"include_usage":true') ? CHAT_SSE_USAGE : CHAT_SSE);
    }
    const big = Number(req.headers['x-bench-sse-bytes'] ?? 0);
    const hold = Number(req.headers['x-bench-hold-ms'] ?? 0);
    if (big > 0) return void bigStream(res, big);
    res.once('finish', () => (stream ? served.sse++ : served.json++));
    if (!stream) {
      res.writeHead(200, JSON_HEADERS);
      return void res.end(JSON_BODY);
    }
    res.writeHead(200, SSE_HEADERS);
    if (hold <= 0) return void res.end(Buffer.concat([SSE_FIRST, SSE_REST]));
    res.write(SSE_FIRST);
    setTimeout(() => res.end(SSE_REST), hold);
  });
});
server.headersTimeout = 0;
server.requestTimeout = 0;

await serveChild(server, {
  info: () => ({ jsonBytes: JSON_BODY.length, sseBytes: SSE_BODY.length, deltaEventsPerBlock: PER_BLOCK, blockBytes: BLOCK.length }),
  usage: () => USAGE,
  served: () => ({ ...served }),
});
