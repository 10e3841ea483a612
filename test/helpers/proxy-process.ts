/**
 * claude-meter as an operator runs it, in a child process (`bin/claude-meter.js start` on the
 * shipped proxy.config.yaml, JSON logs), for the tests that signal it: a SIGKILL loses what
 * the process held, a SIGTERM drains. Its log lines are kept; the process is killed at the
 * test's end if it is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

const BIN = resolve('bin/claude-meter.js');

export interface ProxyProcess {
  url: string;
  child: ChildProcess;
  /** Every stdout line so far, parsed. */
  lines: Array<Record<string, unknown>>;
  /** The exit code and signal, once it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `sig` and waits for the exit. */
  signal(sig: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startProxyProcess(
  t: { after(fn: () => unknown): void },
  env: { UPSTREAM_URL: string; REDIS_URL: string } & Record<string, string>,
): Promise<ProxyProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--config', 'proxy.config.yaml'], {
    env: { ...process.env, CLAUDE_METER_CONFIG: '', PORT: '0', HOST: '127.0.0.1', CLAUDE_METER_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines: Array<Record<string, unknown>> = [];
  const first = new Promise<Record<string, unknown>>((ok, fail) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(l) as Record<string, unknown>;
      } catch {
        line = { msg: l }; // not a log line: kept as text
      }
      lines.push(line);
      if (typeof line['listen'] === 'string') ok(line); // the first log line names the address
    });
    void exited.then(({ code, signal }) => fail(new Error(`claude-meter exited (${code ?? signal}) before listening:\n${stderr}`)));
  });
  const { listen } = (await first) as { listen: string };
  return {
    url: listen,
    child,
    lines,
    exited,
    async signal(sig) {
      child.kill(sig);
      return exited;
    },
  };
}
