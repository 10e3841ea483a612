/**
 * `claude-meter check-config [FILE]`: loads a config exactly as `start` would (same file
 * precedence, ${VAR} expansion, defaults, environment overrides), builds everything `start`
 * builds from it except connections (pricing file, budgets, alerter, forecaster: compose/check.ts),
 * and prints the result as YAML with secrets replaced by `***`, so "what will it run with?" has
 * an answer before a deploy. Exit 0 when valid; 1 with the line `start` would refuse with
 * (`file: config error at key.path: reason`, `file: pricing error at key.path: reason`) when not.
 */
import { stringify } from 'yaml';
import { loadConfig, describeConfig } from '../config/load.ts';
import { describeOrigin, locateConfig } from '../config/locate.ts';
import { checkGraph, refusal } from '../compose/check.ts';
import { CONFIG_FILE, runCommand, type CommandSpec, type Env, type Io } from './args.ts';

export const CHECK_CONFIG = {
  name: 'check-config',
  summary: 'validate a config and print it as loaded (secrets as ***); exit 1 on an error',
  positional: { name: 'FILE', description: 'the config file (same as --config FILE; it wins when both are given)' },
  options: { config: CONFIG_FILE },
} as const satisfies CommandSpec;

export function runCheckConfigCommand(argv: readonly string[], io: Io, env: Env): Promise<number> {
  return runCommand(CHECK_CONFIG, argv, io, async ({ values, positional }) => {
    const located = locateConfig(positional ?? values.config, env);
    let described: Record<string, unknown>;
    try {
      const config = loadConfig({ file: located.file, env });
      await checkGraph(config);
      described = describeConfig(config) as Record<string, unknown>;
    } catch (err) {
      const line = refusal(err);
      if (line === null) throw err;
      io.stderr.write(`claude-meter check-config: ${line}\n`);
      return 1;
    }
    const { source: _source, ...body } = described;
    io.stdout.write(
      `# valid: ${describeOrigin(located)}\n` +
        '# effective config: the file, built-in defaults and environment overrides (PORT, UPSTREAM_URL, REDIS_URL); secrets shown as ***\n' +
        stringify(body, { lineWidth: 0 }),
    );
    return 0;
  });
}
