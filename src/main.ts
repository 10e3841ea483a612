/**
 * Process entry. The only place that reads argv and process.env, builds the
 * logger, and wires signals; everything else receives what it needs.
 */
import { createApp } from './app.ts';
import { loadConfig, describeConfig } from './config/load.ts';
import { ConfigError } from './config/errors.ts';
import { ConfigWatcher } from './config/reload.ts';
import { describeOrigin, locateConfig, type LocatedConfig } from './config/locate.ts';
import { systemClock } from './lib/clock.ts';
import { chooseLogFormat, createProcessLogger, type LogFormat } from './lib/process-logger.ts';
import { VERSION } from './version.ts';
import { runForecastCommand } from './commands/forecast.ts';
import { runBacktestCommand } from './commands/backtest.ts';
import { runSimulateCommand } from './commands/simulate.ts';
import { runReportCommand } from './commands/report.ts';
import { runCheckConfigCommand } from './commands/check-config.ts';

/** The arguments after the command name, for commands that parse their own flags. */
function rawRest(argv: readonly string[], command: string): string[] {
  const i = argv.indexOf(command);
  return argv.slice(i + 1);
}

const USAGE = `claude-meter ${VERSION}: metering, budget and forecasting proxy for the Claude API

Usage:
  claude-meter start [--config FILE]   run the proxy; status page at http://HOST:PORT/_meter/
  claude-meter check-config [FILE]     validate a config and print it as loaded (secrets as ***); exit 1 on an error
  claude-meter report [--window day|week|month] [--by model|key|tag] [--timezone TZ] [--json] [--config FILE]
                                       requests, tokens, cost, cache savings and budgets (p50 projection), from the configured Redis
  claude-meter forecast [--config FILE] [--json]
                                       current projection of every budget, from the configured Redis
  claude-meter backtest --series FILE [--model NAME] [--target cost|tokens|requests] [--window day|month]
                        [--at 6,12,18] [--eval-from DAY] [--json]
                                       forecaster accuracy against naive baselines on a normalized series
  claude-meter simulate --series FILE --config FILE [--speed N] [--svg FILE] [--json]
                                       replay a series through budgets and pacing on a simulated clock
  claude-meter --version
  claude-meter --help

Config file: --config FILE, else $CLAUDE_METER_CONFIG, else ./proxy.config.yaml if present, else built-in defaults.
Environment overrides: PORT, UPSTREAM_URL, REDIS_URL; CLAUDE_METER_LOG_FORMAT=json|pretty (default: pretty on a terminal).
Reload: SIGHUP or saving the config file applies budgets, pricing, alerts and admin changes.`;

export interface ParsedArgs {
  command: string;
  flags: Map<string, string>;
  /** Bare arguments after the command (only check-config takes one). */
  positionals: string[];
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const flags = new Map<string, string>();
  const positionals: string[] = [];
  let command = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (i + 1 < argv.length && !(argv[i + 1] ?? '').startsWith('--')) flags.set(a.slice(2), argv[++i] ?? '');
      else flags.set(a.slice(2), 'true');
    } else if (command === '') command = a;
    else positionals.push(a);
  }
  return { command, flags, positionals };
}

/** The config file precedence (config/locate.ts), with `--config` given without a file refused. */
function locate(args: ParsedArgs, flag = args.flags.get('config')): LocatedConfig {
  if (flag === 'true') throw new UsageError('--config needs a FILE');
  return locateConfig(flag, process.env);
}

class UsageError extends Error {}

function logFormat(): LogFormat {
  try {
    return chooseLogFormat(process.env['CLAUDE_METER_LOG_FORMAT'], process.stdout.isTTY);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function start(args: ParsedArgs): Promise<void> {
  const located = locate(args);
  const config = loadConfig({ file: located.file, env: process.env });
  const log = createProcessLogger(config.log.level, 1, logFormat());
  const logger = log.logger;
  const app = createApp({ config, clock: systemClock, logger });
  const addr = await app.listen();
  const redis = config.store.redis.url !== null || config.store.redis.cluster_nodes.length > 0;
  // The first line names the config file, so "were my budgets applied?" is answered at a glance.
  logger.info(
    {
      store: app.store.kind,
      listen: `http://${addr.address}:${addr.port}`,
      upstream: config.upstream.url,
      config_file: located.file,
      config_from: located.origin,
      config: describeConfig(config),
      version: VERSION,
    },
    `claude-meter listening on ${addr.address}:${addr.port}, config: ${describeOrigin(located)}, ` +
      (redis
        ? 'store: redis'
        : 'store: in-memory (embedded; not persisted, not shared: set REDIS_URL or store.redis.url for Redis)'),
  );
  // SIGHUP or an edit of the file reloads budgets, pricing, alerts and the admin token;
  // an invalid new file is refused with a log line and the running config keeps serving.
  const watcher = config.source ? new ConfigWatcher({ file: config.source, env: process.env, logger, clock: systemClock, onReload: (next) => app.reload(next) }) : null;
  watcher?.start(config);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests and records');
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
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.flags.has('version')) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (args.flags.has('help') || args.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = args.command || 'start';
  const positional = command === 'check-config' ? 1 : 0;
  if (args.positionals.length > positional) {
    process.stderr.write(`unexpected argument '${args.positionals[positional] ?? ''}'\n\n${USAGE}\n`);
    return 2;
  }
  // Commands that read the config get the file by the one precedence rule.
  const withConfig = (): Map<string, string> => {
    const flags = new Map(args.flags);
    const file = locate(args).file;
    if (file === null) flags.delete('config');
    else flags.set('config', file);
    return flags;
  };
  try {
    switch (command) {
      case 'start':
        await start(args);
        return -1; // keep running
      case 'forecast':
        return await runForecastCommand(withConfig(), process, process.env);
      case 'report':
        return await runReportCommand(withConfig(), process, process.env);
      case 'check-config':
        return runCheckConfigCommand(locate(args, args.positionals[0] ?? args.flags.get('config')), process, process.env);
      case 'backtest':
        return await runBacktestCommand(rawRest(argv, 'backtest'), process);
      case 'simulate':
        return await runSimulateCommand(rawRest(argv, 'simulate'), process, process.env);
      default:
        process.stderr.write(`unknown command '${command}'\n\n${USAGE}\n`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`claude-meter: refusing to start: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
