/**
 * A real Prometheus (Debian's `prometheus` binary) for tests: its own free port on 127.0.0.1,
 * a private temp dir for config and TSDB, killed in t.after and on process exit. Missing
 * binary: the test fails (CI installs it, .ci/run); it is never skipped.
 */
import { freePort } from './redis-server.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';

const HOST = '127.0.0.1';
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface PromResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value?: [number, string] }> };
}

export interface RunningPrometheus {
  url: string;
  /** Instant query at now through the HTTP API (GET /api/v1/query). */
  query(expr: string): Promise<PromResult>;
  /** GET an API path, parsed JSON. */
  api<T = unknown>(path: string): Promise<T>;
  close(): Promise<void>;
}

export function requireBinary(name: string): void {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    throw new Error(`${name} is required (apt-get install prometheus; .ci/run installs it): ${String(r.error ?? r.stderr)}`);
}

/** Starts prometheus on `config` (an object written as YAML), ready when /-/ready answers 200. */
export async function startPrometheus(t: { after(fn: () => unknown): void }, config: object): Promise<RunningPrometheus> {
  requireBinary('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'cm-prom-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const url = `http://${HOST}:${port}`;
  let log = '';
  const child = spawn(
    'prometheus',
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${HOST}:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  live.add(child);
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  t.after(close);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited during startup:\n${log}`);
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`prometheus not ready within 15 s:\n${log}`);
    await sleep(100);
  }
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    return (await r.json()) as T;
  };
  return { url, api, query: (expr) => api<PromResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`), close };
}
