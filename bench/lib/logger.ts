/**
 * The product's logger, exactly as src/main.ts builds it (createProcessLogger: pino, async
 * and buffered), at the config's level (the default `info` writes one JSON line per
 * request). The bench writes to BENCH_LOG_FILE (default /dev/null) because the children's
 * stdout carries the PORT line; serialising and writing still happen, only the disk does
 * not. BENCH_LOG_LEVEL overrides the level, e.g. `warn` to measure the proxy without its
 * request log.
 */
import type { Logger } from '../../src/lib/logger.ts';
import { createProcessLogger } from '../../src/lib/process-logger.ts';

export interface BenchLog {
  level: string;
  dest: string;
}

export function benchLogger(configLevel: string): { logger: Logger; log: BenchLog } {
  const level = process.env['BENCH_LOG_LEVEL'] || configLevel;
  const dest = process.env['BENCH_LOG_FILE'] || '/dev/null';
  return { logger: createProcessLogger(level, dest).logger, log: { level, dest } };
}
