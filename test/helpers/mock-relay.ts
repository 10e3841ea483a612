/**
 * A mock relay (中转站) speaking both dialects on one origin, like HolySheep: Anthropic's
 * Messages at /v1/messages (JSON and SSE, as mock-anthropic.ts writes them) and the
 * OpenAI-compatible API at /v1/chat/completions and /v1/responses (JSON and SSE, in the wire
 * format the official openai SDK parses). Its OpenAI-format usage follows one of two
 * semantics, as real relays do:
 *  - `openai`: prompt_tokens INCLUDES cached tokens (OpenAI, LiteLLM, OpenRouter);
 *  - `newapi`: prompt_tokens EXCLUDES them, with new-api's claude_cache_creation_* fields,
 *    and the final usage chunk sent even when the client did not ask for it.
 * Answers are deterministic (fixed ids, `created`), so a call through the proxy and a direct
 * call can be compared event by event. It records what it received.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { messageJson, messageStream, type MockUsage } from './mock-anthropic.ts';

/** One request's token counts, disjoint, as the relay bills them. */
export interface RelayTokens {
  /** Uncached input. */
  input: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  output: number;
  reasoning?: number;
}

export type RelaySemantics = 'openai' | 'newapi';

export interface RelayReceived {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface MockRelay {
  url: string;
  received: RelayReceived[];
  /** The tokens the next answers report (the same for every answer until changed). */
  tokens: RelayTokens;
  /** The exact body bytes of every answer, in order. */
  sent: Buffer[];
  /** Text deltas a stream is cut after (the connection destroyed), or null for whole streams. */
  cutAfter: number | null;
  close(): Promise<void>;
}

const TEXT = ['Hello', ' from', ' the', ' relay', '.'];

/** OpenAI-format usage of `t` under `semantics`. */
export function chatUsage(t: RelayTokens, semantics: RelaySemantics): Record<string, unknown> {
  const cached = t.cacheRead;
  const writes = t.cacheWrite5m + t.cacheWrite1h;
  const reasoning = t.reasoning ?? 0;
  if (semantics === 'newapi') {
    const prompt = t.input; // exclusive: the uncached input only
    return {
      prompt_tokens: prompt,
      completion_tokens: t.output,
      total_tokens: prompt + t.output,
      prompt_tokens_details: { cached_tokens: cached, text_tokens: 0, audio_tokens: 0, image_tokens: 0 },
      completion_tokens_details: { text_tokens: 0, audio_tokens: 0, reasoning_tokens: reasoning },
      input_tokens: prompt,
      output_tokens: t.output,
      claude_cache_creation_5_m_tokens: t.cacheWrite5m,
      claude_cache_creation_1_h_tokens: t.cacheWrite1h,
    };
  }
  const prompt = t.input + cached + writes; // inclusive
  return {
    prompt_tokens: prompt,
    completion_tokens: t.output,
    total_tokens: prompt + t.output,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0, ...(writes > 0 ? { cache_write_tokens: writes } : {}) },
    completion_tokens_details: {
      reasoning_tokens: reasoning,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** Responses-API usage: input_tokens includes cached tokens. */
export function responsesUsage(t: RelayTokens): Record<string, unknown> {
  const cached = t.cacheRead;
  const writes = t.cacheWrite5m + t.cacheWrite1h;
  const input = t.input + cached + writes;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cached, ...(writes > 0 ? { cache_write_tokens: writes } : {}) },
    output_tokens: t.output,
    output_tokens_details: { reasoning_tokens: t.reasoning ?? 0 },
    total_tokens: input + t.output,
  };
}

function anthropicUsage(t: RelayTokens): MockUsage {
  return {
    input_tokens: t.input,
    output_tokens: t.output,
    cache_read_input_tokens: t.cacheRead,
    cache_creation_input_tokens: t.cacheWrite5m + t.cacheWrite1h,
    cache_creation: { ephemeral_5m_input_tokens: t.cacheWrite5m, ephemeral_1h_input_tokens: t.cacheWrite1h },
  };
}

function chunk(model: string, choices: unknown[], usage: unknown | undefined): string {
  const o: Record<string, unknown> = {
    id: 'chatcmpl-relay-1',
    object: 'chat.completion.chunk',
    created: 1_765_000_000,
    model,
    system_fingerprint: null,
    choices,
  };
  if (usage !== undefined) o['usage'] = usage;
  return `data: ${JSON.stringify(o)}\n\n`;
}

/** A chat.completions stream as OpenAI writes it; `withUsage`: the include_usage shape (usage:null on chunks, a final usage chunk). */
export function chatStream(model: string, usage: Record<string, unknown>, withUsage: boolean): string[] {
  const nul = withUsage ? null : undefined;
  const events = [chunk(model, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], nul)];
  for (const text of TEXT) events.push(chunk(model, [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }], nul));
  events.push(chunk(model, [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], nul));
  if (withUsage) events.push(chunk(model, [], usage));
  events.push('data: [DONE]\n\n');
  return events;
}

export function chatJson(model: string, usage: Record<string, unknown>): string {
  return JSON.stringify({
    id: 'chatcmpl-relay-1',
    object: 'chat.completion',
    created: 1_765_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: TEXT.join(''), refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage,
    system_fingerprint: null,
  });
}

function responseObject(model: string, status: string, usage: Record<string, unknown> | null, text: string): Record<string, unknown> {
  return {
    id: 'resp_relay_1',
    object: 'response',
    created_at: 1_765_000_000,
    status,
    model,
    output:
      status === 'completed'
        ? [
            {
              id: 'msg_relay_1',
              type: 'message',
              status: 'completed',
              role: 'assistant',
              content: [{ type: 'output_text', text, annotations: [] }],
            },
          ]
        : [],
    usage,
    error: null,
    incomplete_details: null,
    instructions: null,
    metadata: {},
    parallel_tool_calls: true,
    temperature: 1,
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
  };
}

export function responsesJson(model: string, t: RelayTokens): string {
  return JSON.stringify(responseObject(model, 'completed', responsesUsage(t), TEXT.join('')));
}

export function responsesStream(model: string, t: RelayTokens): string[] {
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const item = { id: 'msg_relay_1', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
  const events = [
    ev('response.created', { response: responseObject(model, 'in_progress', null, '') }),
    ev('response.in_progress', { response: responseObject(model, 'in_progress', null, '') }),
    ev('response.output_item.added', { output_index: 0, item }),
    ev('response.content_part.added', {
      item_id: 'msg_relay_1',
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    }),
  ];
  for (const delta of TEXT)
    events.push(ev('response.output_text.delta', { item_id: 'msg_relay_1', output_index: 0, content_index: 0, delta, logprobs: [] }));
  const text = TEXT.join('');
  events.push(
    ev('response.output_text.done', { item_id: 'msg_relay_1', output_index: 0, content_index: 0, text, logprobs: [] }),
    ev('response.content_part.done', {
      item_id: 'msg_relay_1',
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text, annotations: [] },
    }),
    ev('response.output_item.done', {
      output_index: 0,
      item: { ...item, status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] },
    }),
    ev('response.completed', { response: responseObject(model, 'completed', responsesUsage(t), text) }),
  );
  return events;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export async function startMockRelay(
  opts: { semantics: RelaySemantics; tokens?: RelayTokens; apiKey?: string },
  t?: TestContext,
): Promise<MockRelay> {
  const relay: MockRelay = {
    url: '',
    received: [],
    sent: [],
    tokens: opts.tokens ?? { input: 1200, cacheRead: 3000, cacheWrite5m: 400, cacheWrite1h: 0, output: 250 },
    cutAfter: null,
    close: async () => {},
  };
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    relay.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const path = (req.url ?? '').split('?')[0];
    const auth = req.headers['authorization'] ?? req.headers['x-api-key'];
    if (opts.apiKey !== undefined && auth !== `Bearer ${opts.apiKey}` && auth !== opts.apiKey) {
      const err = JSON.stringify({
        error: { message: 'invalid api key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
      });
      relay.sent.push(Buffer.from(err));
      res.writeHead(401, { 'content-type': 'application/json' }).end(err);
      return;
    }
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {}
    const model = typeof json['model'] === 'string' ? json['model'] : 'unknown-model';
    const stream = json['stream'] === true;
    const tokens = relay.tokens;
    let events: string[] | null = null;
    let whole: string | null = null;
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      const usage = chatUsage(tokens, opts.semantics);
      const asked = (json['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true;
      if (stream) events = chatStream(model, usage, asked || opts.semantics === 'newapi');
      else whole = chatJson(model, usage);
    } else if (req.method === 'POST' && path === '/v1/responses') {
      if (stream) events = responsesStream(model, tokens);
      else whole = responsesJson(model, tokens);
    } else if (req.method === 'POST' && path === '/v1/messages') {
      const s = { usage: anthropicUsage(tokens), model, text: TEXT.join('') };
      if (stream) events = [messageStream(s)];
      else whole = messageJson(s);
    } else {
      const err = JSON.stringify({ error: { message: `no route ${path}`, type: 'invalid_request_error', param: null, code: null } });
      relay.sent.push(Buffer.from(err));
      res.writeHead(404, { 'content-type': 'application/json' }).end(err);
      return;
    }
    if (whole !== null) {
      relay.sent.push(Buffer.from(whole));
      res.writeHead(200, { 'content-type': 'application/json' }).end(whole);
      return;
    }
    const list = events ?? [];
    relay.sent.push(Buffer.from(list.join('')));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const cut = relay.cutAfter;
    if (cut !== null) {
      // The connection drops once the first events have reached the socket: a relay that dies mid-stream.
      for (const e of list.slice(0, cut)) res.write(e);
      res.write(list[cut] ?? '', () => res.destroy());
      return;
    }
    for (const e of list) res.write(e);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  relay.url = `http://127.0.0.1:${port}`;
  relay.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t?.after(() => relay.close());
  return relay;
}
