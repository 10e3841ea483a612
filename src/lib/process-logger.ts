/**
 * The process's logger: pino writing JSON lines to stdout (or `dest`) through an
 * asynchronous, buffered destination.
 *
 * Why buffered: at the default `info` level every request writes one line. Unbuffered,
 * each line is its own write on libuv's thread pool; `info` lines are gathered until
 * 64 K characters (about 180 request lines) or FLUSH_MS, whichever comes first, which
 * cut the proxy's CPU per request measurably (README, Performance). The price: a line may
 * reach stdout up to FLUSH_MS late, and a SIGKILL loses at most that much. A normal exit,
 * including an uncaught exception, flushes synchronously (the 'exit' hook below), and
 * shutdown flushes first.
 *
 * Why `info` lines skip pino's serializer: the request line is written once per request,
 * and pino's serialization cost 7.6–8.6 µs per line against 4.1–4.5 µs for this path
 * (bench/log-line.ts). The line
 * is byte-for-byte the shape pino writes (`level`, `time`, `service`, the fields, `msg`),
 * goes to the same destination, and obeys the same level. Anything JSON.stringify cannot
 * take (a bigint, a cycle), an `err` field, and every other level go through pino itself.
 */
import { openSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino from 'pino';
import pinoPretty from 'pino-pretty';
import type { Logger } from './logger.ts';

const BUFFER_CHARS = 65_536;
const FLUSH_MS = 100;
const INFO = 30;
const SERVICE = 'claude-meter';
const SERVICE_JSON = JSON.stringify(SERVICE);

export interface ProcessLogger {
  logger: Logger;
  /** Writes out whatever is buffered, then calls back. */
  flush(cb: () => void): void;
  /**
   * Whole JSON lines from elsewhere (a worker's log), written through this logger's one
   * destination and format after what it holds, so they never interleave with its own.
   */
  write(lines: string): void;
}

/** JSON lines for files, pipes and log collectors; pino-pretty's one-line text for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

/**
 * CLAUDE_METER_LOG_FORMAT (`json` or `pretty`) wins; otherwise pretty exactly when stdout is a
 * terminal, so `npm start` in a shell is readable and anything that parses the output gets JSON.
 */
export function chooseLogFormat(explicit: string | undefined, isTTY: boolean | undefined): LogFormat {
  if (explicit === 'json' || explicit === 'pretty') return explicit;
  if (explicit !== undefined && explicit !== '') throw new Error(`CLAUDE_METER_LOG_FORMAT must be json or pretty, got '${explicit}'`);
  return isTTY === true ? 'pretty' : 'json';
}

/**
 * A pino-pretty formatter applied to finished JSON lines. In-process and synchronous (not a
 * transport worker), so pretty output goes through the same buffer and destination and keeps
 * the same order and crash-flush guarantees as JSON.
 */
export function prettyLines(colorize: boolean): (chunk: string) => string {
  const format = pinoPretty.prettyFactory({ colorize, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'service' });
  return (chunk) => {
    let out = '';
    for (const line of chunk.split('\n')) if (line !== '') out += format(line);
    return out;
  };
}

/** `fields`: on every line after `service` (a worker's number). */
export function createProcessLogger(
  level: string,
  dest: string | number = 1,
  format: LogFormat = 'json',
  fields: Readonly<Record<string, string | number>> = {},
): ProcessLogger {
  // The buffer is ours, not sonic-boom's `minLength`: sonic-boom measures the byte length
  // of its whole pending string on every write, which made a larger buffer cost more.
  // minLength 1 writes at once, like 0, but makes flush(cb) wait for the write in flight.
  // A path is opened here, synchronously: sonic-boom would open it asynchronously, and a
  // process dying in its first milliseconds could not flush into a file not yet open.
  const fd = typeof dest === 'number' ? dest : openSync(dest, 'a');
  const sonic = pino.destination({ dest: fd, sync: false, minLength: 1 });
  // Pretty: every line, ours and pino's, is formatted on its way into the one destination;
  // coloured only on a terminal (CLAUDE_METER_LOG_FORMAT=pretty into `| less` stays plain).
  const pretty = format === 'pretty' ? prettyLines(isatty(fd)) : null;
  const stream =
    pretty === null
      ? sonic
      : {
          write: (s: string) => sonic.write(pretty(s)),
          flush: (cb: (err?: Error) => void) => sonic.flush(cb),
          flushSync: () => sonic.flushSync(),
        };
  const base = pino({ level, base: { service: SERVICE, ...fields } }, stream);
  const head = `"service":${SERVICE_JSON}${Object.entries(fields)
    .map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join('')}`;
  let pending: string[] = [];
  let pendingChars = 0;
  const drain = (): void => {
    if (pending.length === 0) return;
    const chunk = pending.length === 1 ? pending[0]! : pending.join('');
    pending = [];
    pendingChars = 0;
    stream.write(chunk);
  };
  setInterval(drain, FLUSH_MS).unref();
  // pino's own exit hook flushes the stream, but our lines may still be here; this also runs on an uncaught exception.
  process.once('exit', () => {
    drain();
    try {
      stream.flushSync();
    } catch {
      // nothing left to do on the way out
    }
  });

  const infoOn = base.isLevelEnabled('info');
  const logger: Logger = {
    info(obj, msg) {
      if (!infoOn) return;
      const line = infoLine(head, obj, msg);
      if (line === null) {
        drain();
        return base.info(obj, msg);
      }
      pending.push(line);
      pendingChars += line.length;
      if (pendingChars >= BUFFER_CHARS) drain();
    },
    // Buffered lines go first, so the output keeps the order of the calls.
    warn(obj, msg) {
      drain();
      base.warn(obj, msg);
    },
    error(obj, msg) {
      drain();
      base.error(obj, msg);
    },
    debug(obj, msg) {
      drain();
      base.debug(obj, msg);
    },
  };
  return {
    logger,
    flush(cb) {
      drain();
      base.flush(() => cb());
    },
    write(lines) {
      drain();
      stream.write(lines);
    },
  };
}

/** pino's line for `info(obj, msg)`, or null when the object needs pino's own serializer. */
function infoLine(head: string, obj: object, msg: string | undefined): string | null {
  if (Object.hasOwn(obj, 'err')) return null; // pino's error serializer keeps the stack
  let fields: string;
  try {
    fields = JSON.stringify(obj);
  } catch {
    return null;
  }
  if (typeof fields !== 'string' || fields[0] !== '{') return null;
  const body = fields.length > 2 ? `,${fields.slice(1, -1)}` : '';
  const tail = msg === undefined ? '' : `,"msg":${JSON.stringify(msg)}`;
  return `{"level":${INFO},"time":${Date.now()},${head}${body}${tail}}\n`;
}
