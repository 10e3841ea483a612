/**
 * Child-process half of the bench protocol. Each server under test runs in its own
 * process so it never shares an event loop with the load generator; it prints
 * `PORT <n>` on stdout once listening and answers the parent's requests over IPC.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';

/** utime + stime of the main thread (tid = pid) from /proc, in µs (Linux; USER_HZ = 100). */
function mainThreadCpuUs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

export type Handler = (msg: Record<string, unknown>) => unknown;

export interface MemSample {
  t: number;
  rss: number;
  heapUsed: number;
}

/** Listens on an ephemeral loopback port, then serves `cpu`, `mem-start`, `mem-stop` plus `extra` ops. */
export async function serveChild(server: Server, extra: Record<string, Handler> = {}): Promise<void> {
  let samples: MemSample[] = [];
  // Requests this server received: the load generator's own count is not exact at a fixed rate.
  let served = 0;
  server.on('request', () => served++);
  let sampler: NodeJS.Timeout | null = null;
  const sample = () => {
    const m = process.memoryUsage();
    samples.push({ t: performance.now(), rss: m.rss, heapUsed: m.heapUsed });
  };
  const ops: Record<string, Handler> = {
    cpu: () => process.cpuUsage(),
    /** The main thread's CPU alone (µs): what bounds a single event loop, unlike cpu (all threads). */
    'cpu-main': () => mainThreadCpuUs(),
    elu: () => performance.eventLoopUtilization(),
    served: () => served,
    // Sampled in-process: heapUsed is only visible from inside, and a 100 ms timer costs nothing measurable.
    'mem-start': () => {
      samples = [];
      sample();
      sampler = setInterval(sample, 100);
      return null;
    },
    'mem-stop': () => {
      if (sampler) clearInterval(sampler);
      sample();
      return samples;
    },
    ...extra,
  };
  process.on('message', (raw) => {
    const msg = raw as { id: number; op: string } & Record<string, unknown>;
    const op = ops[msg.op];
    Promise.resolve()
      .then(() => {
        if (!op) throw new Error(`unknown op ${msg.op}`);
        return op(msg);
      })
      .then(
        (result) => process.send?.({ id: msg.id, ok: true, result }),
        (err: unknown) => process.send?.({ id: msg.id, ok: false, error: String(err) }),
      );
  });
  // The IPC channel closes when the parent dies, however it dies: never outlive it.
  process.on('disconnect', () => process.exit(0));
  // An orderly exit on SIGTERM, so --cpu-prof (BENCH_PROFILE) gets to write its profile.
  process.on('SIGTERM', () => process.exit(0));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);
}
