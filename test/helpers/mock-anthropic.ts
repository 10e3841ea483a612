/**
 * A mock Anthropic upstream speaking the real wire format: Messages JSON and SSE
 * (message_start, content_block_*, message_delta, message_stop, ping, error events),
 * error bodies with request-id, gzip, and raw byte scripts for hostile cases.
 * It records what it received and the exact bytes it sent, so tests can assert
 * byte-identity through the proxy; the usage each answer reported (its bill), so tests can
 * compare the store's totals with it; and the answers whose connection the proxy closed
 * before the end.
 */
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface MockUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  server_tool_use?: { web_search_requests: number };
  service_tier?: string;
  inference_geo?: string;
}

export type Scenario =
  | {
      kind: 'message';
      usage: MockUsage;
      model?: string;
      text?: string;
      gzip?: boolean;
      pings?: number;
      chunkSize?: number;
      delayMs?: number;
    }
  | { kind: 'error'; status: number; type: string; message?: string; headers?: Record<string, string> }
  | { kind: 'stream-error'; usage: MockUsage; model?: string; errorType?: string }
  | { kind: 'raw'; status: number; headers: Record<string, string>; chunks: (string | Buffer)[]; delayMs?: number; destroyAfter?: boolean }
  /**
   * A streamed message cut after message_start and `deltas` text deltas: `drop` closes the
   * connection mid-body (as a reset or a crashed upstream does), `stall` sends nothing more and
   * keeps it open, `hold` keeps it open and ends the stream only when `release` resolves (never,
   * if the proxy closes the connection first). Bills the usage message_start reported.
   */
  | { kind: 'stream-cut'; usage: MockUsage; model?: string; deltas: number; end: 'drop' | 'stall' | 'hold'; release?: Promise<void> }
  | { kind: 'hang' }
  /** Writes `first`, then waits for `gate` before writing `rest`: proves the proxy does not buffer. */
  | { kind: 'gated'; headers: Record<string, string>; first: string; rest: string; gate: Promise<void> };

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface MockUpstream {
  url: string;
  received: Received[];
  /** Exact bytes of each response body sent, in order of completion. */
  sent: Buffer[];
  /** The usage each answer reported on the wire, as it was sent (a cut stream: what message_start said). */
  billed: MockUsage[];
  /** Requests whose answer the proxy stopped reading: it closed the connection before the mock ended the response. */
  cut: Received[];
  /** Resolves once `n` answers have been cut by the proxy (an event, not a poll). */
  whenCut(n: number): Promise<void>;
  setScenario(fn: (req: Received) => Scenario): void;
  close(): Promise<void>;
}

let counter = 0;
const nextId = () => `msg_mock_${(++counter).toString(36).padStart(8, '0')}`;

export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The SSE stream of one message, as the API sends it: message_start usage carries a placeholder output count. */
export function messageStream(s: { usage: MockUsage; model: string; text: string; pings?: number; id?: string }): string {
  const id = s.id ?? nextId();
  const { output_tokens, server_tool_use, ...startUsage } = s.usage;
  const frames: string[] = [];
  frames.push(
    sseFrame('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        content: [],
        model: s.model,
        stop_reason: null,
        stop_sequence: null,
        usage: { ...startUsage, output_tokens: Math.min(1, output_tokens) },
      },
    }),
  );
  frames.push(sseFrame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
  for (let i = 0; i < (s.pings ?? 1); i++) frames.push(sseFrame('ping', { type: 'ping' }));
  const words = s.text.match(/\S+\s*/g) ?? [s.text];
  for (const w of words) {
    frames.push(sseFrame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: w } }));
  }
  frames.push(sseFrame('content_block_stop', { type: 'content_block_stop', index: 0 }));
  // message_delta usage is cumulative; the API repeats input and cache counters there.
  const deltaUsage: Record<string, unknown> = {
    input_tokens: s.usage.input_tokens,
    cache_creation_input_tokens: s.usage.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: s.usage.cache_read_input_tokens ?? 0,
    output_tokens,
  };
  if (server_tool_use) deltaUsage['server_tool_use'] = server_tool_use;
  frames.push(
    sseFrame('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: deltaUsage,
    }),
  );
  frames.push(sseFrame('message_stop', { type: 'message_stop' }));
  return frames.join('');
}

/** The usage message_start reports: everything but the output, which is a placeholder (at most 1) until message_delta. */
export function startUsage(u: MockUsage): MockUsage {
  const { server_tool_use: _, ...rest } = u;
  return { ...rest, output_tokens: Math.min(1, u.output_tokens) };
}

export function messageJson(s: { usage: MockUsage; model: string; text: string; id?: string }): string {
  return JSON.stringify({
    id: s.id ?? nextId(),
    type: 'message',
    role: 'assistant',
    model: s.model,
    content: [{ type: 'text', text: s.text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: s.usage,
  });
}

function parseJson(b: Buffer): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(b.toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export async function startMockAnthropic(t?: TestContext): Promise<MockUpstream> {
  const received: Received[] = [];
  const sent: Buffer[] = [];
  const billed: MockUsage[] = [];
  const cut: Received[] = [];
  /** Responses the mock cut itself: not the proxy's doing. */
  const dropped = new WeakSet<http.ServerResponse>();
  let cutWaiters: Array<{ n: number; resolve: () => void }> = [];
  let scenarioFn: (req: Received) => Scenario = () => ({ kind: 'message', usage: { input_tokens: 10, output_tokens: 5 } });
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      received.push(rec);
      res.once('close', () => {
        if (res.writableFinished || dropped.has(res)) return;
        cut.push(rec);
        for (const w of cutWaiters) if (cut.length >= w.n) w.resolve();
        cutWaiters = cutWaiters.filter((w) => cut.length < w.n);
      });
      void respond(rec, scenarioFn(rec), res);
    });
  });
  server.keepAliveTimeout = 10;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function writeChunks(res: http.ServerResponse, body: Buffer, chunkSize: number, delayMs: number): Promise<void> {
    for (let i = 0; i < body.length; i += chunkSize) {
      if (res.destroyed) return;
      res.write(body.subarray(i, i + chunkSize));
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  async function respond(rec: Received, sc: Scenario, res: http.ServerResponse): Promise<void> {
    const reqJson = parseJson(rec.body);
    const requestId = `req_mock_${received.length}`;
    const model = typeof reqJson['model'] === 'string' ? (reqJson['model'] as string) : 'claude-sonnet-4-5-20250929';
    switch (sc.kind) {
      case 'hang':
        return;
      case 'gated': {
        res.writeHead(200, sc.headers);
        res.write(sc.first);
        await sc.gate;
        res.end(sc.rest);
        sent.push(Buffer.from(sc.first + sc.rest));
        return;
      }
      case 'error': {
        const body = Buffer.from(
          JSON.stringify({ type: 'error', error: { type: sc.type, message: sc.message ?? sc.type }, request_id: requestId }),
        );
        res.writeHead(sc.status, { 'content-type': 'application/json', 'request-id': requestId, ...sc.headers });
        res.end(body);
        sent.push(body);
        return;
      }
      case 'raw': {
        res.writeHead(sc.status, sc.headers);
        const all: Buffer[] = [];
        for (const c of sc.chunks) {
          const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
          all.push(b);
          res.write(b);
          if (sc.delayMs) await new Promise((r) => setTimeout(r, sc.delayMs));
        }
        sent.push(Buffer.concat(all));
        if (sc.destroyAfter) {
          dropped.add(res);
          res.destroy();
        } else res.end();
        return;
      }
      case 'stream-error': {
        billed.push(startUsage(sc.usage));
        // Short words of a token each, 4.5 characters a token: text the cut-stream estimate's bound is stated for.
        const full = messageStream({ usage: sc.usage, model: sc.model ?? model, text: 'one two three four' });
        const cut = full.indexOf('event: content_block_stop');
        const body = Buffer.from(
          full.slice(0, cut) +
            sseFrame('error', { type: 'error', error: { type: sc.errorType ?? 'overloaded_error', message: 'Overloaded' } }),
        );
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': requestId });
        res.end(body);
        sent.push(body);
        return;
      }
      case 'message': {
        const text = sc.text ?? 'Hello from the mock upstream.';
        const m = sc.model ?? model;
        const stream = reqJson['stream'] === true;
        let body = Buffer.from(
          stream
            ? messageStream({ usage: sc.usage, model: m, text, pings: sc.pings ?? 1 })
            : messageJson({ usage: sc.usage, model: m, text }),
        );
        const headers: Record<string, string> = {
          'content-type': stream ? 'text/event-stream; charset=utf-8' : 'application/json',
          'request-id': requestId,
          'anthropic-ratelimit-requests-remaining': '999',
        };
        if (stream) headers['cache-control'] = 'no-cache';
        if (sc.gzip) {
          body = gzipSync(body);
          headers['content-encoding'] = 'gzip';
        }
        if (!stream) headers['content-length'] = String(body.length);
        res.writeHead(200, headers);
        await writeChunks(res, body, sc.chunkSize ?? 64 * 1024, sc.delayMs ?? 0);
        if (res.destroyed) return; // cut before its usage was sent: the scenarios that cut bill explicitly
        res.end();
        sent.push(body);
        billed.push(sc.usage);
        return;
      }
      case 'stream-cut': {
        const full = messageStream({ usage: sc.usage, model: sc.model ?? model, text: 'one two three four five six seven eight' });
        const frames = full.split(/(?<=\n\n)/);
        // message_start, content_block_start, ping, then the deltas asked for.
        const head = Buffer.from(frames.slice(0, 3 + sc.deltas).join(''));
        const rest = Buffer.from(frames.slice(3 + sc.deltas).join(''));
        const bill = billed.push(startUsage(sc.usage)) - 1;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': requestId });
        sent.push(head);
        if (sc.end === 'drop') {
          dropped.add(res);
          // Closed once the bytes are flushed, so the proxy reads them before it sees the connection go.
          return void res.write(head, () => res.destroy());
        }
        res.write(head);
        if (sc.end !== 'hold' || sc.release === undefined) return;
        await sc.release;
        if (res.destroyed) return;
        res.end(rest);
        sent.push(rest);
        billed[bill] = sc.usage; // the whole stream went out: its message_delta reported the full usage
        return;
      }
    }
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const mock: MockUpstream = {
    url: `http://127.0.0.1:${port}`,
    received,
    sent,
    billed,
    cut,
    whenCut(n) {
      return cut.length >= n ? Promise.resolve() : new Promise((resolve) => cutWaiters.push({ n, resolve }));
    },
    setScenario(fn) {
      scenarioFn = fn;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  t?.after(() => mock.close());
  return mock;
}
