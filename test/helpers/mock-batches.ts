/**
 * A mock of Anthropic's Message Batches endpoints speaking the real wire format (the shapes of
 * `@anthropic-ai/sdk`'s MessageBatch and MessageBatchIndividualResponse): create, retrieve,
 * list, cancel, delete, and the results download as JSONL in random order. A batch ends when
 * the test says so, with the result each custom_id gets; `results_url` names the mock's own
 * origin, as Anthropic's names api.anthropic.com. A results download can be cut after some bytes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import type { MockUsage } from './mock-anthropic.ts';

export type MockResult =
  | { type: 'succeeded'; usage: MockUsage; model?: string }
  | { type: 'errored' }
  | { type: 'canceled' }
  | { type: 'expired' };

interface Batch {
  id: string;
  created: number;
  ended: number | null;
  status: 'in_progress' | 'canceling' | 'ended';
  customIds: string[];
  results: Map<string, MockResult> | null;
}

export interface MockBatches {
  url: string;
  /** Every request the mock received: method, path (with query), headers. */
  received: { method: string; url: string; headers: http.IncomingHttpHeaders; bytes: number }[];
  /** Ends a batch with these results (custom_id → result); unlisted ids expire. */
  end(id: string, results: Record<string, MockResult>, endedAt?: number): void;
  /** The next results download of this batch is cut after this many bytes (the connection dropped). */
  cutNext(id: string, afterBytes: number): void;
  /** Results downloads served whole or cut, per batch. */
  downloads(id: string): number;
  close(): Promise<void>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export async function startMockBatches(t?: TestContext, opts: { now?: () => number; prefix?: string } = {}): Promise<MockBatches> {
  const now = opts.now ?? (() => Date.parse('2026-12-07T10:00:00Z'));
  const prefix = opts.prefix ?? '';
  const batches = new Map<string, Batch>();
  const cuts = new Map<string, number>();
  const downloads = new Map<string, number>();
  const received: MockBatches['received'] = [];
  let seq = 0;
  let origin = '';

  const object = (b: Batch): Record<string, unknown> => {
    const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
    if (b.results === null) counts.processing = b.customIds.length;
    else for (const r of b.results.values()) counts[r.type]++;
    return {
      id: b.id,
      type: 'message_batch',
      processing_status: b.status,
      request_counts: counts,
      ended_at: iso(b.ended),
      created_at: iso(b.created),
      expires_at: iso(b.created + 24 * 3600_000),
      archived_at: null,
      cancel_initiated_at: null,
      results_url: b.status === 'ended' ? `${origin}${prefix}/v1/messages/batches/${b.id}/results` : null,
    };
  };

  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'request-id': `req_mock_${++seq}`,
    });
    res.end(text);
  };
  const notFound = (res: http.ServerResponse): void =>
    json(res, 404, { type: 'error', error: { type: 'not_found_error', message: 'batch not found' } });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? '/';
      received.push({ method: req.method ?? 'GET', url, headers: req.headers, bytes: body.length });
      const path = url.split('?')[0]?.slice(prefix.length) ?? '';
      const m = /^\/v1\/messages\/batches(?:\/([^/]+)(?:\/(results|cancel))?)?$/.exec(path);
      if (m === null) return json(res, 404, { type: 'error', error: { type: 'not_found_error', message: `no route ${path}` } });
      const [, id, action] = m;
      if (id === undefined) {
        if (req.method === 'POST') {
          let parsed: { requests?: { custom_id: string }[] };
          try {
            parsed = JSON.parse(body.toString('utf8'));
          } catch {
            return json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'invalid JSON' } });
          }
          const b: Batch = {
            id: `msgbatch_${String(++seq).padStart(6, '0')}mock`,
            created: now(),
            ended: null,
            status: 'in_progress',
            customIds: (parsed.requests ?? []).map((r) => r.custom_id),
            results: null,
          };
          batches.set(b.id, b);
          return json(res, 200, object(b));
        }
        const data = [...batches.values()].reverse().map(object);
        return json(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
      }
      const b = batches.get(id);
      if (b === undefined) return notFound(res);
      if (action === 'cancel') {
        if (b.status === 'in_progress') b.status = 'canceling';
        return json(res, 200, object(b));
      }
      if (action === 'results') {
        if (b.results === null) return json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'not ended' } });
        downloads.set(id, (downloads.get(id) ?? 0) + 1);
        const lines = [...b.results.entries()].map(([customId, r]) => JSON.stringify(resultLine(customId, r)));
        shuffle(lines);
        const text = Buffer.from(`${lines.join('\n')}\n`);
        const cut = cuts.get(id);
        cuts.delete(id);
        res.writeHead(200, { 'content-type': 'application/binary', 'request-id': `req_mock_${++seq}` });
        if (cut !== undefined) {
          res.write(text.subarray(0, cut));
          setImmediate(() => res.destroy());
          return;
        }
        // In pieces, so the proxy reads the JSONL as it streams.
        for (let i = 0; i < text.length; i += 257) res.write(text.subarray(i, i + 257));
        res.end();
        return;
      }
      if (req.method === 'DELETE') {
        batches.delete(id);
        return json(res, 200, { id, type: 'message_batch_deleted' });
      }
      return json(res, 200, object(b));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mock: MockBatches = {
    url: origin + prefix,
    received,
    end(id, results, endedAt) {
      const b = batches.get(id);
      if (b === undefined) throw new Error(`no batch ${id}`);
      b.results = new Map(b.customIds.map((c) => [c, results[c] ?? { type: 'expired' }]));
      b.status = 'ended';
      b.ended = endedAt ?? now();
    },
    cutNext(id, afterBytes) {
      cuts.set(id, afterBytes);
    },
    downloads: (id) => downloads.get(id) ?? 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  t?.after(() => {
    server.closeAllConnections();
    return mock.close();
  });
  return mock;
}

function resultLine(customId: string, r: MockResult): unknown {
  if (r.type === 'succeeded') {
    return {
      custom_id: customId,
      result: {
        type: 'succeeded',
        message: {
          id: `msg_${customId}`,
          type: 'message',
          role: 'assistant',
          model: r.model ?? 'claude-sonnet-4-5',
          content: [{ type: 'text', text: `answer to ${customId}` }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { service_tier: 'batch', ...r.usage },
        },
      },
    };
  }
  if (r.type === 'errored') {
    return {
      custom_id: customId,
      result: { type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: 'bad request' } } },
    };
  }
  return { custom_id: customId, result: { type: r.type } };
}

function shuffle<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
}
