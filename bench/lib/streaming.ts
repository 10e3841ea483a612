/** The two streaming phases: time to first body byte, and a huge stream for memory flatness. */
import http from 'node:http';
import { HEADERS, MESSAGES_PATH, messagesBody } from './request.ts';

const STREAM_BODY = messagesBody(true);

interface Timed {
  ttft: number;
  firstChunk: string;
  total: number;
}

/** One sequential request on a keep-alive agent; ms from sending to the first body byte. */
function once(agent: http.Agent, base: string, headers: Record<string, string>): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      base + MESSAGES_PATH,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(STREAM_BODY)) } },
      (res) => {
        let ttft = -1;
        let firstChunk = '';
        res.on('data', (c: Buffer) => {
          if (ttft >= 0) return;
          ttft = performance.now() - t0;
          firstChunk = c.toString('utf8', 0, 64);
        });
        res.on('end', () => resolve({ ttft, firstChunk, total: performance.now() - t0 }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(STREAM_BODY);
  });
}

export interface TtftResult {
  samples: number[];
  /** Every first chunk was message_start and arrived before the upstream's hold ended: nothing buffered. */
  unbuffered: boolean;
}

/** `n` requests per target, interleaved request by request in rotating order, after one warm-up each. */
export async function measureTtft(
  targets: { name: string; url: string }[],
  n: number,
  holdMs: number,
): Promise<Record<string, TtftResult>> {
  const headers = { ...HEADERS, 'x-bench-hold-ms': String(holdMs) };
  const agents = new Map(targets.map((t) => [t.name, new http.Agent({ keepAlive: true, maxSockets: 1 })]));
  const out: Record<string, TtftResult> = {};
  for (const t of targets) {
    out[t.name] = { samples: [], unbuffered: true };
    await once(agents.get(t.name)!, t.url, headers);
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(i + k) % targets.length]!;
      const r = await once(agents.get(t.name)!, t.url, headers);
      const o = out[t.name]!;
      o.samples.push(r.ttft);
      if (!r.firstChunk.startsWith('event: message_start') || r.ttft >= holdMs) o.unbuffered = false;
    }
  }
  for (const a of agents.values()) a.destroy();
  return out;
}

export interface BigStreamResult {
  bytes: number;
  seconds: number;
  /** The usage in the stream's last message_delta, as the client saw it. */
  usage: { input_tokens: number; output_tokens: number } | null;
}

/** Streams `bytes` of SSE through `base` and consumes it at full speed, keeping only the tail. */
export function bigStream(base: string, bytes: number): Promise<BigStreamResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers = { ...HEADERS, 'x-bench-sse-bytes': String(bytes), 'content-length': String(Buffer.byteLength(STREAM_BODY)) };
    const req = http.request(base + MESSAGES_PATH, { method: 'POST', headers, agent: false }, (res) => {
      let total = 0;
      let tail = '';
      res.on('data', (c: Buffer) => {
        total += c.length;
        tail = (tail + c.toString('latin1', Math.max(0, c.length - 4096))).slice(-4096);
      });
      res.on('end', () => {
        const m = /event: message_delta\ndata: (.*)\n/.exec(tail);
        const usage = m ? (JSON.parse(m[1]!) as { usage: { input_tokens: number; output_tokens: number } }).usage : null;
        resolve({ bytes: total, seconds: (performance.now() - t0) / 1000, usage });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(STREAM_BODY);
  });
}
