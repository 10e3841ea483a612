/**
 * Parent-process half: builds bench/<x>.ts into one JavaScript bundle with the product's
 * build options (scripts/build.mjs, as `npm start` runs claude-meter), spawns `node` on it,
 * waits for its port, talks IPC, kills it. BENCH_RUNTIME=tsx runs the sources through tsx
 * instead, as the tests do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const live = new Set<ChildProcess>();

/** Synchronous last resort, for 'exit' and signal handlers that cannot await. */
export function killAllChildren(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}
process.once('exit', killAllChildren);

export interface Child {
  name: string;
  pid: number;
  url: string;
  call<T>(op: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/** How the children run: `bundle` (default, like the shipped dist/) or `tsx` (from source); per child through its env. */
function runtime(env: Record<string, string>): 'tsx' | 'bundle' {
  return (env['BENCH_RUNTIME'] ?? process.env['BENCH_RUNTIME']) === 'tsx' ? 'tsx' : 'bundle';
}

/**
 * Every child runs the node that runs the bench (process.execPath), so `PATH=<node 24>:$PATH`
 * measures Node 24 throughout; checked here, from the child's /proc entry, rather than trusted.
 */
function sameNode(name: string, pid: number | undefined): void {
  if (pid === undefined || !existsSync(`/proc/${pid}/exe`)) return;
  const child = realpathSync(`/proc/${pid}/exe`);
  if (child !== realpathSync(process.execPath)) throw new Error(`${name} runs ${child}, not ${process.execPath}`);
}

/** `cwd`: another checkout of this repo whose bench/<script> to run (bench/ab.ts compares checkouts). */
export async function spawnChild(
  name: string,
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  cwd = ROOT,
): Promise<Child> {
  let argv = ['--import', 'tsx', `bench/${script}`];
  if (runtime(env) === 'bundle') {
    // Built from `cwd`'s sources with this checkout's build options, into that checkout's .bench/.
    const { bundle } = (await import(join(ROOT, 'scripts/build.mjs'))) as {
      bundle(entry: string, out: string, root: string): Promise<void>;
    };
    const root = resolve(cwd);
    const out = join(root, '.bench', 'build', `${name}.mjs`);
    await bundle(`bench/${script}`, out, root);
    argv = ['--enable-source-maps', out];
  }
  const cp = spawn(process.execPath, [...nodeArgs, ...argv], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  live.add(cp);
  cp.on('error', (err) => process.stderr.write(`[${name}] ${String(err)}\n`)); // unhandled, it would crash us before cleanup
  const exited = new Promise<void>((resolve) => cp.once('exit', () => resolve()));
  void exited.then(() => live.delete(cp));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no PORT line within 30 s`)), 30_000);
    cp.once('exit', (code, sig) => reject(new Error(`${name} exited during startup (${code ?? sig})`)));
    createInterface({ input: cp.stdout! }).on('line', (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      } else process.stderr.write(`[${name}] ${line}\n`);
    });
  });

  sameNode(name, cp.pid);

  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  cp.on('message', (raw) => {
    const m = raw as { id: number; ok: boolean; result?: unknown; error?: string };
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) p?.resolve(m.result);
    else p?.reject(new Error(`${name}: ${m.error}`));
  });
  cp.once('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${name} exited`));
    pending.clear();
  });

  return {
    name,
    pid: cp.pid ?? -1,
    url: `http://127.0.0.1:${port}`,
    call: <T>(op: string, args: Record<string, unknown> = {}) =>
      new Promise<T>((resolve, reject) => {
        if (!cp.connected) return reject(new Error(`${name} is gone (exit ${cp.exitCode ?? cp.signalCode})`));
        const id = ++nextId;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        cp.send({ id, op, ...args }, (err) => {
          if (!err) return;
          pending.delete(id);
          reject(err);
        });
      }),
    async stop() {
      if (cp.exitCode !== null || cp.signalCode !== null) return;
      cp.kill('SIGTERM');
      const t = setTimeout(() => cp.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
