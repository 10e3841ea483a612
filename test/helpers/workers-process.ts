/**
 * `claude-meter start --workers N` as an operator runs it: the command in a child process
 * (the primary, which forks the workers), a config file of the test's own, JSON logs
 * read as they come. Every stdout line must parse as JSON: a line two workers interleaved
 * would not, and fails the test that reads it.
 */
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { within } from './wait.ts';

const CLI = resolve('src/cli.ts');

export interface Line {
  msg: string;
  level: number;
  worker?: number;
  pid?: number;
  listen?: string;
  [k: string]: unknown;
}

export interface WorkersProcess {
  child: ChildProcess;
  url: string;
  /** The config file: rewrite it and send SIGHUP to reload. */
  file: string;
  lines: Line[];
  /** stdout lines that are not JSON (interleaved or torn): none expected. */
  torn: string[];
  stderr(): string;
  /** The first line that satisfies `pred`, one already seen included. */
  line(pred: (l: Line) => boolean, ms?: number): Promise<Line>;
  /** Sends `signal` and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts and waits for the primary's first line (every worker listens then). */
export async function startWorkers(
  t: TestContext,
  o: { yaml?: string; env?: Record<string, string>; args?: string[]; listening?: boolean },
): Promise<WorkersProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'cm-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, `listen:\n  host: 127.0.0.1\n${o.yaml ?? ''}`);
  // From source through tsx, as bin/claude-meter.js runs a checkout without a fresh bundle: the
  // primary's and the workers' code is then what the coverage report sees.
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', file, ...(o.args ?? ['--workers', '2'])], {
    env: {
      ...process.env,
      CLAUDE_METER_CONFIG: '',
      CLAUDE_METER_WORKERS: '',
      REDIS_URL: '',
      PORT: '0',
      CLAUDE_METER_LOG_FORMAT: 'json',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(async () => {
    // The primary's SIGKILL leaves its workers to exit on the closed channel.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines: Line[] = [];
  const torn: string[] = [];
  const watchers = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      torn.push(text);
    }
    for (const w of watchers) w();
  });
  // Workers run from source (tsx compiles each at start): on a busy 2-core machine the first line can take over 15 s.
  const line = (pred: (l: Line) => boolean, ms = 30_000): Promise<Line> =>
    within(
      'a log line',
      new Promise<Line>((ok, fail) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit === undefined) return;
          watchers.delete(check);
          ok(hit);
        };
        watchers.add(check);
        check();
        void exited.then(() =>
          setImmediate(() => fail(new Error(`no such line; stderr: ${stderr}; lines: ${JSON.stringify(lines.map((l) => l.msg))}`))),
        );
      }),
      ms,
    );
  const p: WorkersProcess = {
    child,
    url: '',
    file,
    lines,
    torn,
    stderr: () => stderr,
    line,
    exited,
    async stop(signal = 'SIGTERM') {
      const t0 = performance.now();
      child.kill(signal);
      const [code] = await within('the proxy to exit', exited, 20_000);
      return { code, ms: performance.now() - t0 };
    },
  };
  if (o.listening === false) return p;
  const first = await line((l) => l.listen !== undefined);
  p.url = first.listen as string;
  return p;
}
