/**
 * The primary process of `start --workers N`: it forks the workers, serves nothing itself,
 * and holds what must be one for all of them: the log stream (workers' lines written whole,
 * through its own logger), the aggregate of their metrics, the forecast loop's results passed
 * on, signals (SIGHUP passed on; SIGTERM and SIGINT drain every worker, then exit), and
 * restarts of a worker that died (restarts.ts bounds them).
 *
 * Connections: Node's cluster default, the primary accepts and hands each connection to the
 * workers in turn (docs/workers.md says why not reusePort).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { ProcessLogger } from '../lib/process-logger.ts';
import type { ForecastShare } from '../forecast/service.ts';
import { LineJoiner } from './lines.ts';
import { ours, WORKER_ID_ENV, type PrimaryMessage, type WorkerMessage } from './messages.ts';
import { restartPlan } from './restarts.ts';
import { LOOP_SLOT } from './worker.ts';

/** After the drain deadline, how long a worker may take to write its records and exit before it is killed. */
const EXIT_GRACE_MS = 15_000;

export interface PrimaryOptions {
  count: number;
  log: ProcessLogger;
  clock: Timers;
  /** listen.drain_timeout_ms: the workers' drain, which bounds how long the primary waits for them. */
  drainTimeoutMs: number;
  /** Once, when every worker listens. */
  onListening(addr: { address: string; port: number }): void;
  exit(code: number): void;
}

interface Slot {
  n: number;
  worker: Worker | null;
  /** The slot's worker has listened at least once: a death after that is restarted, one before is a start-up failure. */
  served: boolean;
  deaths: number[];
  restart: TimerHandle | null;
}

export function runPrimary(o: PrimaryOptions): void {
  const { log, clock } = o;
  const logger = log.logger;
  const aggregator = new AggregatorRegistry();
  const slots: Slot[] = Array.from({ length: o.count }, (_, i) => ({ n: i + 1, worker: null, served: false, deaths: [], restart: null }));
  let listened = false;
  let stopping: { code: number } | null = null;
  let lastShare: ForecastShare | null = null;
  // The workers' stdio are pipes to here, so their lines reach one writer.
  cluster.setupPrimary({ silent: true });

  const send = (w: Worker | null, m: PrimaryMessage): void => {
    if (w?.isConnected()) w.send(m);
  };
  const live = (): Worker[] => slots.flatMap((s) => (s.worker ? [s.worker] : []));

  const fork = (slot: Slot): void => {
    slot.restart = null;
    const w = cluster.fork({ [WORKER_ID_ENV]: String(slot.n) });
    slot.worker = w;
    const out = new LineJoiner();
    const err = new LineJoiner();
    w.process.stdout?.setEncoding('utf8').on('data', (c: string) => {
      const lines = out.push(c);
      if (lines !== '') log.write(lines);
    });
    w.process.stdout?.on('end', () => {
      const rest = out.end();
      if (rest !== '') log.write(rest);
    });
    w.process.stderr?.setEncoding('utf8').on('data', (c: string) => {
      const lines = err.push(c);
      if (lines !== '') process.stderr.write(lines);
    });
    w.process.stderr?.on('end', () => {
      const rest = err.end();
      if (rest !== '') process.stderr.write(rest);
    });
    w.on('message', (m: unknown) => onMessage(slot, w, m));
    w.on('exit', (code, signal) => onExit(slot, w, code, signal));
  };

  const onMessage = (slot: Slot, w: Worker, raw: unknown): void => {
    const m = ours<WorkerMessage>(raw);
    if (m?.type === 'cm:listening') {
      slot.served = true;
      if (lastShare !== null && slot.n !== LOOP_SLOT) send(w, { type: 'cm:forecast', share: lastShare });
      if (!listened && slots.every((s) => s.served)) {
        listened = true;
        o.onListening({ address: m.address, port: m.port });
      }
    } else if (m?.type === 'cm:scrape') {
      aggregator.clusterMetrics().then(
        (body) => send(w, { type: 'cm:scraped', id: m.id, body }),
        (e: unknown) => send(w, { type: 'cm:scraped', id: m.id, error: String(e) }),
      );
    } else if (m?.type === 'cm:forecast') {
      lastShare = m.share;
      for (const s of slots) if (s.n !== slot.n) send(s.worker, { type: 'cm:forecast', share: m.share });
    }
  };

  const onExit = (slot: Slot, w: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== w) return;
    slot.worker = null;
    const fields = { worker: slot.n, pid: w.process.pid, code, signal };
    if (stopping) {
      if (code !== 0) stopping.code = 1;
      if (live().length === 0) finish();
      return;
    }
    if (!slot.served) {
      logger.error(fields, 'a worker exited before it listened: stopping the others');
      return stop('worker start-up failed', 1);
    }
    const now = clock.now();
    slot.deaths.push(now);
    slot.deaths = slot.deaths.slice(-10);
    const plan = restartPlan(slot.deaths, now);
    if (!plan.restart) {
      logger.error({ ...fields, deaths: slot.deaths.length }, 'a worker keeps dying: not restarting it; stopping the others');
      return stop('worker keeps dying', 1);
    }
    logger.error({ ...fields, restart_in_ms: plan.delayMs }, 'worker exited unexpectedly: restarting it');
    slot.restart = clock.setTimeout(() => fork(slot), plan.delayMs);
  };

  let killTimer: TimerHandle | null = null;
  const finish = (): void => {
    if (killTimer !== null) clock.clearTimeout(killTimer);
    const code = stopping?.code ?? 0;
    log.flush(() => o.exit(code));
  };

  const stop = (reason: string, code: number, signal: NodeJS.Signals = 'SIGTERM'): void => {
    if (stopping) return;
    stopping = { code };
    logger.info(
      { signal: reason, workers: live().length, drain_timeout_ms: o.drainTimeoutMs },
      'shutting down: every worker drains, then exits',
    );
    for (const s of slots) {
      if (s.restart !== null) clock.clearTimeout(s.restart);
      s.restart = null;
    }
    for (const w of live()) w.process.kill(signal);
    if (live().length === 0) return finish();
    // A worker bounds its own drain; this bounds a worker that hangs anyway.
    killTimer = clock.setTimeout(() => {
      for (const w of live()) {
        logger.error({ pid: w.process.pid }, 'a worker did not exit after the drain: killing it');
        w.process.kill('SIGKILL');
      }
    }, o.drainTimeoutMs + EXIT_GRACE_MS);
  };

  process.on('SIGTERM', () => stop('SIGTERM', 0, 'SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT', 0, 'SIGINT'));
  // Each worker reloads its own config (and watches the file itself); a signal sent to the whole
  // process group reaches a worker twice, which its reload debounce folds into one.
  process.on('SIGHUP', () => {
    for (const w of live()) w.process.kill('SIGHUP');
  });
  for (const s of slots) fork(s);
}
