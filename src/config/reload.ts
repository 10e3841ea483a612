import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { TimerHandle, Timers } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Config } from './types.ts';
import { ConfigError } from './errors.ts';
import { deepFreeze } from './freeze.ts';
import type { Env } from './interpolate.ts';
import { loadConfig } from './load.ts';

/**
 * Live config reload, on SIGHUP or when the file changes. A reload is all-or-nothing: the
 * new file is loaded and validated exactly as at boot, and any error keeps the running
 * config (a typo must never take budgets away from a running proxy). Keys read once at
 * startup (the listening socket, the store connection, the upstream socket pool) keep their
 * running values, with a warning, and everything else is handed to `onReload`.
 */

/** Key paths (and everything under them) that only take effect after a restart. */
// upstream: the default upstream is what every unrouted request meets, so it changes only with a
// restart (routed `upstreams:` reload: compose/upstreams.ts swaps their pools); metrics: label
// sets are fixed at registration; log: the logger is built by main before the app.
export const RESTART_ONLY: readonly string[] = ['listen', 'store', 'upstream', 'metrics', 'log'];
/** Key paths under RESTART_ONLY that a reload applies all the same: what the default upstream bills. */
const RELOADABLE: readonly string[] = ['upstream.billing'];

export interface ConfigWatcherOptions {
  /** The config file; resolved against the cwd like loadConfig does. */
  file: string;
  env: Env;
  logger: Logger;
  /** What the debounce waits on. */
  clock: Timers;
  /** Called with the new config (restart-only keys kept at their running values) and the old one. */
  onReload(next: Config, prev: Config): void;
  /** Quiet time after the last file event before reloading; editors write in several steps. Default 200. */
  debounceMs?: number;
}

type Sections = Exclude<keyof Config, 'source'>;

export class ConfigWatcher {
  readonly #file: string;
  readonly #opts: ConfigWatcherOptions;
  readonly #debounceMs: number;
  #current: Config | null = null;
  #started = false;
  #watcher: FSWatcher | null = null;
  #timer: TimerHandle | null = null;
  // One bound function, so process.off() removes exactly what process.on() added.
  readonly #onSignal = (): void => this.#schedule();

  constructor(opts: ConfigWatcherOptions) {
    this.#opts = opts;
    this.#file = resolve(opts.file);
    this.#debounceMs = opts.debounceMs ?? 200;
  }

  /** The config in force: the one given to start(), or the last one applied. */
  get current(): Config {
    if (this.#current === null) throw new Error('ConfigWatcher: start() has not been called');
    return this.#current;
  }

  start(current: Config): void {
    if (this.#started) throw new Error('ConfigWatcher: already started');
    this.#started = true;
    this.#current = current;
    process.on('SIGHUP', this.#onSignal);
    const name = basename(this.#file);
    try {
      // The directory, not the file: editors and config management replace the file by
      // renaming a new one over it, after which a watch on the old inode hears nothing.
      // Kubernetes ConfigMap volumes swap a `..data` symlink instead of touching the file.
      this.#watcher = watch(dirname(this.#file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || changed.startsWith('..')) this.#schedule();
      });
      this.#watcher.on('error', (err) => this.#watchFailed(err));
    } catch (err) {
      this.#watchFailed(err);
    }
  }

  /** Stops listening; start() may be called again later. */
  stop(): void {
    this.#started = false;
    process.off('SIGHUP', this.#onSignal);
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#timer !== null) this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /**
   * Loads the file now. Resolves true when a changed config was applied (onReload called),
   * false when it was refused or nothing that can change at runtime changed. Rejects only
   * before start(): it runs from signal and watch callbacks, where a throw would crash the proxy.
   */
  async reloadNow(): Promise<boolean> {
    const prev = this.current;
    const { logger } = this.#opts;
    let loaded: Config;
    try {
      loaded = loadConfig({ file: this.#file, env: this.#opts.env });
    } catch (err) {
      const fields = err instanceof ConfigError ? { file: err.file, key: err.keyPath } : { file: this.#file };
      logger.error(fields, `config reload refused: ${message(err)}; keeping the previous config`);
      return false;
    }
    for (const key of restartOnlyChanges(prev, loaded)) {
      logger.warn({ file: this.#file, key }, `${key} changed: takes effect after restart`);
    }
    const next = keepRunning(loaded, prev);
    const changed = changedSections(prev, next);
    if (changed.length === 0) {
      logger.debug({ file: this.#file }, 'config reload: no changes to apply');
      return false;
    }
    try {
      this.#opts.onReload(next, prev);
    } catch (err) {
      logger.error({ file: this.#file, changed }, `config reload failed while applying: ${message(err)}; keeping the previous config`);
      return false;
    }
    this.#current = next;
    const detail = changed.includes('budgets') ? { budgets: budgetChanges(prev, next) } : {};
    logger.info({ file: this.#file, changed, ...detail }, 'config reloaded');
    return true;
  }

  #schedule(): void {
    if (!this.#started) return;
    const { clock } = this.#opts;
    if (this.#timer !== null) clock.clearTimeout(this.#timer);
    this.#timer = clock.setTimeout(() => {
      this.#timer = null;
      void this.reloadNow();
    }, this.#debounceMs);
    // A pending reload must not hold a shutting-down process open.
    this.#timer.unref();
  }

  #watchFailed(err: unknown): void {
    this.#opts.logger.warn({ file: this.#file }, `cannot watch the config file (${message(err)}); SIGHUP still reloads it`);
  }
}

/** Leaf key paths under RESTART_ONLY whose values differ. */
function restartOnlyChanges(prev: Config, next: Config): string[] {
  const out: string[] = [];
  for (const path of RESTART_ONLY) {
    out.push(...leafDiff(valueAt(prev, path), valueAt(next, path), path));
  }
  return out.filter((p) => !RELOADABLE.some((r) => p === r || p.startsWith(`${r}.`)));
}

/** `next` with every RESTART_ONLY key at its running value from `prev`. */
function keepRunning(next: Config, prev: Config): Config {
  return deepFreeze({
    ...next,
    listen: prev.listen,
    store: prev.store,
    upstream: { ...prev.upstream, billing: next.upstream.billing },
  });
}

function changedSections(prev: Config, next: Config): Sections[] {
  const keys = Object.keys(next).filter((k): k is Sections => k !== 'source');
  return keys.filter((k) => !isDeepStrictEqual(prev[k], next[k]));
}

/** Budget names added, removed or changed, for the reload log line. */
function budgetChanges(prev: Config, next: Config): { added: string[]; removed: string[]; changed: string[] } {
  const before = new Map(prev.budgets.map((b) => [b.name, b]));
  const after = new Map(next.budgets.map((b) => [b.name, b]));
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    changed: [...after].filter(([n, b]) => before.has(n) && !isDeepStrictEqual(before.get(n), b)).map(([n]) => n),
  };
}

function leafDiff(a: unknown, b: unknown, path: string): string[] {
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => leafDiff(a[k], b[k], `${path}.${k}`));
  }
  return isDeepStrictEqual(a, b) ? [] : [path];
}

function valueAt(root: unknown, path: string): unknown {
  let v = root;
  for (const part of path.split('.')) v = isRecord(v) ? v[part] : undefined;
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
