import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Env } from './interpolate.ts';

/** Where the config file came from, for the first log line and check-config. */
export type ConfigOrigin = 'flag' | 'env' | 'cwd' | 'defaults';

export interface LocatedConfig {
  /** Absolute path, or null: no file, built-in defaults. */
  file: string | null;
  origin: ConfigOrigin;
}

/** The file looked for in the working directory when neither --config nor CLAUDE_METER_CONFIG names one. */
export const CWD_CONFIG = 'proxy.config.yaml';

/**
 * Which config file a command uses: `--config FILE` given by the user, then
 * CLAUDE_METER_CONFIG, then ./proxy.config.yaml when it exists, else built-in defaults.
 * An empty flag or variable counts as unset, so `CLAUDE_METER_CONFIG=` can switch it off.
 * A named file is returned even if missing: loadConfig then refuses it (a typo in a path
 * must not silently run on defaults); only the working-directory fallback is optional.
 */
export function locateConfig(flag: string | undefined, env: Env, exists: (path: string) => boolean = existsSync): LocatedConfig {
  if (flag !== undefined && flag !== '') return { file: resolve(flag), origin: 'flag' };
  const fromEnv = env['CLAUDE_METER_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return { file: resolve(fromEnv), origin: 'env' };
  const local = resolve(CWD_CONFIG);
  return exists(local) ? { file: local, origin: 'cwd' } : { file: null, origin: 'defaults' };
}

/** One phrase for logs and messages: "/etc/meter.yaml (from CLAUDE_METER_CONFIG)". */
export function describeOrigin(c: LocatedConfig): string {
  if (c.file === null) return 'built-in defaults (no --config, no CLAUDE_METER_CONFIG, no ./proxy.config.yaml)';
  const why = { flag: '--config', env: 'CLAUDE_METER_CONFIG', cwd: 'the working directory', defaults: '' }[c.origin];
  return `${c.file} (from ${why})`;
}
