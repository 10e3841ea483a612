/**
 * The process's logger: pino writing JSON lines to stdout (or `dest`) through an
 * asynchronous, buffered destination.
 *
 * Why buffered: at the default `info` level every request writes one line. Unbuffered,
 * each line is its own write on libuv's thread pool; buffering until 8 KB (about twenty
 * request lines) or FLUSH_MS, whichever comes first, cut the proxy's CPU per request
 * measurably (README, Performance). The price: a line may reach stdout up to FLUSH_MS
 * late, and a SIGKILL loses at most that much. A normal exit, including an uncaught
 * exception, flushes synchronously (pino's exit hook), and shutdown flushes first.
 */
import pino from 'pino';

const BUFFER_BYTES = 8192;
const FLUSH_MS = 100;

export interface ProcessLogger {
  logger: pino.Logger;
  /** Writes out whatever is buffered, then calls back. */
  flush(cb: () => void): void;
}

export function createProcessLogger(level: string, dest: string | number = 1): ProcessLogger {
  const stream = pino.destination({ dest, sync: false, minLength: BUFFER_BYTES });
  const logger = pino({ level, base: { service: 'claude-meter' } }, stream);
  let written = 0;
  let flushed = 0;
  // Count lines rather than peek at the stream's buffer: an idle proxy makes no writes.
  const counting = stream.write.bind(stream);
  stream.write = (s: string) => {
    written += 1;
    return counting(s);
  };
  setInterval(() => {
    if (written === flushed) return;
    flushed = written;
    stream.flush();
  }, FLUSH_MS).unref();
  return {
    logger,
    flush(cb) {
      logger.flush(() => cb());
    },
  };
}
