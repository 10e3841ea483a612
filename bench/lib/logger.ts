/**
 * The product's logger, as src/main.ts builds it: pino with an asynchronous destination,
 * at the config's level (the default `info` writes one JSON line per request). The bench
 * writes to BENCH_LOG_FILE (default /dev/null) because the children's stdout carries the
 * PORT line; serialising and writing still happen, only the disk does not. BENCH_LOG_LEVEL
 * overrides the level, e.g. `warn` to measure the proxy without its request log.
 */
import pino from 'pino';

export interface BenchLog {
  level: string;
  dest: string;
}

export function benchLogger(configLevel: string): { logger: pino.Logger; log: BenchLog } {
  const level = process.env['BENCH_LOG_LEVEL'] || configLevel;
  const dest = process.env['BENCH_LOG_FILE'] || '/dev/null';
  const logger = pino({ level, base: { service: 'claude-meter' } }, pino.destination({ dest, sync: false }));
  return { logger, log: { level, dest } };
}
