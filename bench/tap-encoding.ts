/**
 * `npx tsx bench/tap-encoding.ts`: what metering a compressed response costs the proxy.
 * docs/metering.md's "decode a copy vs ask for identity" decision rests on this: the CPU the tap
 * spends per response, identity vs gzip vs br, for a typical JSON message and a typical
 * SSE stream. (Asking the upstream for identity costs nothing here but bandwidth there.)
 */
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { UsageTap } from '../src/usage/tap.ts';
import { anthropic } from '../src/api/anthropic/index.ts';
import { messageJson, messageStream } from '../test/helpers/mock-anthropic.ts';

const json = Buffer.from(
  messageJson({ usage: { input_tokens: 1200, output_tokens: 300 }, model: 'claude-sonnet-4-6', text: 'word '.repeat(250) }),
);
const sse = Buffer.from(
  messageStream({ usage: { input_tokens: 1200, output_tokens: 300 }, model: 'claude-sonnet-4-6', text: 'word '.repeat(250) }),
);
const N = 2000;

async function run(label: string, body: Buffer, ct: string, enc: string | null): Promise<void> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 1024) chunks.push(body.subarray(i, i + 1024));
  const once = async () => {
    const tap = new UsageTap({
      dialect: anthropic,
      route: 'metered',
      requestModel: null,
      maxJsonBodyBytes: 1 << 25,
      maxSseEventBytes: 1 << 20,
      maxDecompressedBytes: 64 << 20,
      maxDecompressionRatio: 100,
    });
    tap.onResponseStart(200, enc ? { 'content-type': ct, 'content-encoding': enc } : { 'content-type': ct });
    for (const c of chunks) tap.onData(c);
    const o = await tap.finish('complete');
    if (o.usage?.output !== 300) throw new Error(`${label}: wrong usage`);
  };
  for (let i = 0; i < 200; i++) await once();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < N; i++) await once();
  const cpu = process.cpuUsage(cpu0);
  console.log(`| ${label} | ${body.length} B | ${((cpu.user + cpu.system) / N).toFixed(1)} µs |`);
}

console.log('| response | bytes on the wire | tap CPU per response |\n|---|--:|--:|');
await run('JSON, identity', json, 'application/json', null);
await run('JSON, gzip', gzipSync(json), 'application/json', 'gzip');
await run('JSON, br', brotliCompressSync(json), 'application/json', 'br');
await run('SSE, identity', sse, 'text/event-stream', null);
await run('SSE, gzip', gzipSync(sse), 'text/event-stream', 'gzip');
