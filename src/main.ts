/**
 * Process entry. The only place that reads argv and process.env, builds the
 * logger, and wires signals; everything else receives what it needs.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createApp } from './app.ts';
import { loadConfig, describeConfig } from './config/load.ts';
import { redactUrl } from './config/describe.ts';
import { ConfigWatcher } from './config/reload.ts';
import { describeOrigin, locateConfig, type LocatedConfig } from './config/locate.ts';
import { systemClock } from './lib/clock.ts';
import { chooseLogFormat, createProcessLogger, type LogFormat } from './lib/process-logger.ts';
import { didYouMean } from './config/suggest.ts';
import { VERSION } from './version.ts';
import { redisConfigured } from './compose/stores.ts';
import { refusal } from './compose/check.ts';
import { CONFIG_FILE, helpText, runCommand, UsageError, usageLine, type CommandSpec, type Env, type Io } from './commands/args.ts';
import { CHECK_CONFIG, runCheckConfigCommand } from './commands/check-config.ts';
import { FORECAST, runForecastCommand } from './commands/forecast.ts';
import { REPORT, runReportCommand } from './commands/report.ts';
import { BACKTEST, runBacktestCommand } from './commands/backtest.ts';
import { SIMULATE, runSimulateCommand } from './commands/simulate.ts';
import { KEY_ID, runKeyIdCommand } from './commands/key-id.ts';
import { RECONCILE, runReconcileCommand } from './commands/reconcile.ts';
import type { Config } from './config/types.ts';
import { autoWorkers, cgroupCpuLimit, parseWorkers } from './workers/cores.ts';
import { WORKER_ID_ENV } from './workers/messages.ts';
import { runPrimary } from './workers/primary.ts';
import { connectWorker, type WorkerLink } from './workers/worker.ts';

export const START = {
  name: 'start',
  summary: 'run the proxy; status page at http://HOST:PORT/_meter/',
  options: {
    config: CONFIG_FILE,
    workers: {
      type: 'string',
      value: 'N|auto',
      description:
        'processes serving the port: 1 (one process), N, or auto (one per core this process may use); else $CLAUDE_METER_WORKERS, else listen.workers; more than 1 needs Redis',
    },
  },
} as const satisfies CommandSpec;

export interface Command {
  spec: CommandSpec;
  /** The arguments after the command name; -1: a long-running command owns the process now. */
  run(argv: readonly string[], io: Io, env: Env): Promise<number>;
}

/** Every command, in the order the top-level help lists them. */
export const COMMANDS: readonly Command[] = [
  { spec: START, run: runStartCommand },
  { spec: CHECK_CONFIG, run: runCheckConfigCommand },
  { spec: REPORT, run: runReportCommand },
  { spec: FORECAST, run: runForecastCommand },
  { spec: RECONCILE, run: (argv, io, env) => runReconcileCommand(argv, io, env) },
  { spec: BACKTEST, run: runBacktestCommand },
  { spec: SIMULATE, run: runSimulateCommand },
  { spec: KEY_ID, run: runKeyIdCommand },
];

const USAGE = `claude-meter ${VERSION}: metering, budget and forecasting proxy for the Claude API

Usage:
${COMMANDS.map(({ spec }) => `${usageLine(spec, '  ')}\n      ${spec.summary}`).join('\n')}
  claude-meter <command> --help
      the flags of a command, with their defaults
  claude-meter --version
  claude-meter --help

Without a command, claude-meter runs start.
Config file: --config FILE, else $CLAUDE_METER_CONFIG, else ./proxy.config.yaml if present, else built-in defaults.
Environment overrides: PORT, UPSTREAM_URL, REDIS_URL; CLAUDE_METER_LOG_FORMAT=json|pretty (default: pretty on a terminal).
Reload: SIGHUP or saving the config file applies budgets, pricing, alerts and admin changes.`;

function runStartCommand(argv: readonly string[], io: Io, env: Env): Promise<number> {
  return runCommand(START, argv, io, async ({ values }) => {
    const located = locateConfig(values.config, env);
    if (cluster.isWorker) {
      // Forked by the primary below, with the same arguments and its slot in the environment.
      await start(located, connectWorker(Number(env[WORKER_ID_ENV])));
      return -1;
    }
    const flag = values.workers ?? env['CLAUDE_METER_WORKERS'];
    const asked = flag === undefined || flag === '' ? undefined : parseWorkers(flag);
    if (asked === null) throw new UsageError(`--workers must be a number from 1 to 256 or auto, got '${flag}'`);
    const config = loadConfig({ file: located.file, env: process.env });
    const count = workerCount(asked ?? (config.listen.workers === 0 ? 'auto' : config.listen.workers));
    if (count === 1) {
      await start(located, null); // one process, no cluster: exactly the path without --workers
      return -1;
    }
    if (!redisConfigured(config)) {
      io.stderr.write(
        `claude-meter: refusing to start: ${count} workers need Redis to share budgets and records (set REDIS_URL or store.redis.url, or run one worker)\n`,
      );
      return 2;
    }
    startPrimary(located, config, count);
    return -1;
  });
}

/** `auto`: the CPUs of this process's affinity, capped by its cgroup CPU quota (v2, else v1). */
function workerCount(asked: number | 'auto'): number {
  if (asked !== 'auto') return asked;
  const read = (file: string): string | null => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
  const quota = cgroupCpuLimit({
    cpuMax: read('/sys/fs/cgroup/cpu.max'),
    cfsQuotaUs: read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'),
    cfsPeriodUs: read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'),
  });
  return autoWorkers(availableParallelism(), quota);
}

/** The primary of N workers: it serves nothing; it names the address once all of them listen. */
function startPrimary(located: LocatedConfig, config: Config, count: number): void {
  const log = createProcessLogger(config.log.level, 1, logFormat());
  runPrimary({
    count,
    log,
    clock: systemClock,
    drainTimeoutMs: config.listen.drain_timeout_ms,
    onListening: (addr) =>
      log.logger.info(
        {
          store: 'redis',
          listen: `http://${addr.address}:${addr.port}`,
          workers: count,
          pid: process.pid,
          upstream: redactUrl(config.upstream.url),
          config_file: located.file,
          config_from: located.origin,
          config: describeConfig(config),
          version: VERSION,
        },
        `claude-meter listening on ${addr.address}:${addr.port} with ${count} workers, config: ${describeOrigin(located)}, store: redis`,
      ),
    exit: (code) => process.exit(code),
  });
}

function logFormat(): LogFormat {
  try {
    return chooseLogFormat(process.env['CLAUDE_METER_LOG_FORMAT'], process.stdout.isTTY);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** One process serving the port: the whole proxy, or one worker of several (`worker`). */
async function start(located: LocatedConfig, worker: WorkerLink | null): Promise<void> {
  const config = loadConfig({ file: located.file, env: process.env });
  // A worker writes JSON lines into its pipe to the primary, which formats them once.
  const log = worker
    ? createProcessLogger(config.log.level, 1, 'json', { worker: worker.slot })
    : createProcessLogger(config.log.level, 1, logFormat());
  const logger = log.logger;
  const app = createApp({
    config,
    clock: systemClock,
    logger,
    ...(worker ? { scrape: () => worker.scrape(), forecasting: worker.runsForecastLoop } : {}),
  });
  if (worker) {
    worker.exposeMetrics(app.metrics.registry);
    worker.shareForecasts(app.forecasts);
  }
  const addr = await app.listen();
  if (worker) {
    // The primary's first line names the address and the config, once for all workers.
    logger.info({ pid: process.pid, forecast_loop: worker.runsForecastLoop }, `worker ${worker.slot} serving`);
    log.flush(() => worker.listening(addr));
  }
  // The first line names the config file, so "were my budgets applied?" is answered at a glance.
  else
    logger.info(
      {
        store: app.store.kind,
        listen: `http://${addr.address}:${addr.port}`,
        upstream: redactUrl(config.upstream.url),
        config_file: located.file,
        config_from: located.origin,
        config: describeConfig(config),
        version: VERSION,
      },
      `claude-meter listening on ${addr.address}:${addr.port}, config: ${describeOrigin(located)}, ` +
        (redisConfigured(config)
          ? 'store: redis'
          : 'store: in-memory (embedded; not persisted, not shared: set REDIS_URL or store.redis.url for Redis)'),
    );
  const connect = await app.ready();
  if (connect?.up === false) {
    logger.warn(
      { err: connect.err ?? 'no answer yet' },
      'redis unreachable at start-up: serving anyway; records are journaled and budgets follow on_store_error until it answers',
    );
  }
  // SIGHUP or an edit of the file reloads budgets, pricing, alerts and the admin token;
  // an invalid new file is refused with a log line and the running config keeps serving.
  const watcher = config.source
    ? new ConfigWatcher({ file: config.source, env: process.env, logger, clock: systemClock, onReload: (next) => app.reload(next) })
    : null;
  watcher?.start(config);
  // The primary passes SIGHUP on to every worker; with no file to reload it must not end one.
  if (worker && watcher === null) process.on('SIGHUP', () => undefined);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info(
      { signal, drain_timeout_ms: config.listen.drain_timeout_ms },
      'shutting down: closing idle connections, draining requests in flight, then writing records',
    );
    watcher?.stop();
    // Exit only once the buffered, asynchronous log destination has written everything.
    const exit = (code: number) => log.flush(() => process.exit(code));
    app.close().then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err: String(err) }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

export async function main(argv: readonly string[]): Promise<number> {
  const [first] = argv;
  if (first === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    // `claude-meter help report` is `claude-meter report --help`.
    const spec = COMMANDS.find((c) => c.spec.name === argv[1])?.spec;
    process.stdout.write(spec === undefined ? `${USAGE}\n` : helpText(spec));
    return 0;
  }
  // Without a command (nothing, or a flag first), the arguments are start's.
  const named = first !== undefined && !first.startsWith('-');
  const command = COMMANDS.find((c) => c.spec.name === (named ? first : 'start'));
  if (command === undefined) {
    process.stderr.write(
      `unknown command '${first}'${didYouMean(
        first,
        COMMANDS.map((c) => c.spec.name),
      )}\n\n${USAGE}\n`,
    );
    return 2;
  }
  try {
    return await command.run(named ? argv.slice(1) : argv, process, process.env);
  } catch (err) {
    // A config or pricing file start cannot run with: one line naming file, key path and reason.
    const line = refusal(err);
    if (line === null) throw err;
    process.stderr.write(`claude-meter: refusing to start: ${line}\n`);
    return 2;
  }
}
