import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, rmSync, type WriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BodiesFull, type BodyBuffers, type BodyRoom } from './request-body.ts';

/**
 * The body of a Message Batches create (`POST /v1/messages/batches`, up to the API's 256 MB),
 * read streaming for its budget estimate: each chunk goes through a scan (the dialect's: for
 * Anthropic api/anthropic/batch-scan.ts; http names no dialect), and the bytes are held for forwarding, in memory up to
 * `memoryBytes` (taken from the shared BodyBuffers, as readRequestBody takes them), past that in
 * a temporary file. Past `maxBytes` the scan stops and the rest streams through unread, as an
 * oversized body does in readRequestBody: the upstream decides.
 *
 * The file (mode 0600, in a fresh mkdtemp directory) is opened twice, for writing and for reading,
 * and unlinked at once where the system allows it: the bytes live on in the open descriptors, so
 * nothing is left on disk whatever ends the exchange, a crash included; release() closes them.
 * Where unlinking an open file fails, the directory is removed by release() or a failed read.
 * The file's bytes are taken from the room's `spools` (limits.max_spooled_batch_bytes across
 * creates in flight) before they are written, and given back by release(); a create that does
 * not fit is refused with BodiesFull, and a file that cannot be made or written with SpoolFailed.
 */
export interface BatchBodyLimits {
  /** Bytes held in memory before the body is spooled to a file (limits.max_request_body_bytes). */
  memoryBytes: number;
  /** Bytes read and scanned at most (limits.max_batch_body_bytes); the rest streams through unread. */
  maxBytes: number;
  /** Where the spool directory is made: os.tmpdir() unless told otherwise. */
  tmpDir?: string;
  /** Bytes of writes queued before the upload is paused: SPOOL_HIGH_WATER unless told otherwise (tests force pauses). */
  spoolHighWater?: number;
}

/** The spool file could not be made or written (the disk, not the client): the exchange answers it, unlike a client gone. */
export class SpoolFailed extends Error {
  constructor(cause: unknown) {
    super(`batch body spool failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'SpoolFailed';
  }
}

/** The memory room, and the disk one: bytes in temporary files across creates in flight (limits.max_spooled_batch_bytes). */
export interface BatchRoom extends BodyRoom {
  spools?: BodyBuffers;
  maxSpooled?: number;
}

/** An incremental reader of the body (api/anthropic/batch-scan.ts BatchScan is one). */
export interface BodyScan<R> {
  push(chunk: Uint8Array): void;
  /** The answer once the body has ended. */
  end(): R;
  /** The answer when the read stopped short of the end (past maxBytes): the scan saw only part. */
  cut(): R;
}

export interface BatchBody<R> {
  /** The exact bytes the client sent, in order: a Buffer, or a stream (the file, then the unread rest past maxBytes). */
  forward: Buffer | Readable;
  /** Size of the body, or of what was read of an oversized one. */
  bytes: number;
  /** What the scan found (its `cut()` past maxBytes). */
  scan: R;
  /** The body passed maxBytes: only its start was scanned. */
  oversized: boolean;
  /** The bytes were spooled to a file. */
  spooled: boolean;
  /** Gives back the memory and the disk room and closes the file; also done when the room's response closes. Idempotent. */
  release(): void;
  /** Settles once release() has run and the file's descriptors are closed (a stream closes its own asynchronously). */
  closed(): Promise<void>;
}

/** Writes queue up to this much before the upload is paused (the default 16 KiB would pause on every socket chunk). */
const SPOOL_HIGH_WATER = 1024 * 1024;

/** Reads a batch create body; rejects when the client goes away mid-upload, with BodiesFull when the room (memory or disk) cannot take it. */
export function readBatchBody<R>(
  req: IncomingMessage,
  limits: BatchBodyLimits,
  scan: BodyScan<R>,
  room?: BatchRoom,
): Promise<BatchBody<R>> {
  return new Promise((resolve, reject) => new BatchRead(req, limits, scan, room ?? null, resolve, reject).start());
}

/** Where the spooled bytes are: a write stream until the upload ends, a read descriptor for forwarding. */
interface Spool {
  dir: string | null; // null once removed
  out: WriteStream;
  readFd: number | null; // null once handed to a read stream or closed
  reader: Readable | null;
}

class BatchRead<R> {
  readonly #req: IncomingMessage;
  readonly #limits: BatchBodyLimits;
  readonly #scan: BodyScan<R>;
  readonly #room: BatchRoom | null;
  readonly #resolve: (b: BatchBody<R>) => void;
  readonly #reject: (err: Error) => void;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  /** Bytes taken from the room's BodyBuffers, given back once. */
  #taken = 0;
  /** Bytes taken from the room's spools (the file holds at most this many), given back on release. */
  #spooled = 0;
  #spool: Spool | null = null;
  #done = false;
  #released = false;
  readonly #onRelease: (() => void)[] = [];
  readonly #onData = (chunk: Buffer) => this.#data(chunk);
  readonly #onEnd = () => this.#end();
  readonly #onError = (err: Error) => this.#fail(err);
  // 'close' before 'end': the upload was cut short.
  readonly #onClose = () => this.#fail(new Error('request closed before its body ended'));
  readonly #onDrain = () => this.#req.resume();

  constructor(
    req: IncomingMessage,
    limits: BatchBodyLimits,
    scan: BodyScan<R>,
    room: BatchRoom | null,
    resolve: (b: BatchBody<R>) => void,
    reject: (err: Error) => void,
  ) {
    this.#req = req;
    this.#limits = limits;
    this.#scan = scan;
    this.#room = room;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(): void {
    this.#room?.res.once('close', () => this.release());
    const declared = Number(this.#req.headers['content-length']);
    const n = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
    // A declared length past the memory bound goes to the file from its first byte; a smaller one is taken before a byte is read.
    if (this.#spools() && n > this.#limits.memoryBytes) {
      if (!this.#reserveDisk(Math.min(n, this.#limits.maxBytes)) || !this.#openSpool()) return;
    } else if (!this.#reserve(Math.min(n, this.#limits.memoryBytes, this.#limits.maxBytes))) return;
    const req = this.#req;
    req.on('data', this.#onData);
    req.on('end', this.#onEnd);
    req.on('error', this.#onError);
    req.on('close', this.#onClose);
  }

  /** Settles once released and the spool's streams have closed their descriptors. */
  closed(): Promise<void> {
    const s = this.#spool;
    if (!this.#released) return new Promise<void>((resolve) => this.#onRelease.push(resolve)).then(() => this.closed());
    const open = [s?.out, s?.reader].filter((x): x is Readable | WriteStream => x != null && !x.closed);
    return Promise.all(open.map((x) => new Promise<void>((resolve) => x.once('close', () => resolve())))).then(() => undefined);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const resolve of this.#onRelease.splice(0)) resolve(); // they look at the streams after this returns
    this.#room?.buffers.give(this.#taken);
    this.#taken = 0;
    this.#room?.spools?.give(this.#spooled);
    this.#spooled = 0;
    this.#chunks.length = 0;
    const s = this.#spool;
    if (s === null) return;
    s.out.destroy();
    s.reader?.destroy();
    if (s.readFd !== null) closeSync(s.readFd);
    s.readFd = null;
    removeDir(s);
  }

  #spools(): boolean {
    return this.#limits.maxBytes > this.#limits.memoryBytes;
  }

  #data(chunk: Buffer): void {
    // The response closed before the upload ended: nothing more is taken or held.
    if (this.#released) return this.#fail(new Error('request body released before it was read'));
    this.#size += chunk.length;
    if (this.#size > this.#limits.maxBytes) return this.#oversized(chunk);
    this.#scan.push(chunk);
    const s = this.#spool;
    if (s !== null) {
      if (!this.#reserveDisk(this.#size - this.#spooled)) return;
      if (!s.out.write(chunk)) this.#pauseUntilDrained(s);
      return;
    }
    this.#chunks.push(chunk);
    if (this.#spools() && this.#size > this.#limits.memoryBytes) {
      this.#toFile();
      return;
    }
    // Refused (BodiesFull): the rest of the upload is not read.
    if (this.#size > this.#taken && !this.#reserve(this.#size - this.#taken)) this.#req.pause();
  }

  /** The body passed the memory bound: what is held goes to the file, and its memory back to the room once written. */
  #toFile(): void {
    if (!this.#reserveDisk(this.#size - this.#spooled) || !this.#openSpool()) return;
    const s = this.#spool as Spool;
    const held = this.#chunks.splice(0);
    let full = false;
    held.forEach((c, i) => {
      full = !s.out.write(c, i === held.length - 1 ? () => this.#giveBack() : undefined);
    });
    if (full) this.#pauseUntilDrained(s);
  }

  #giveBack(): void {
    this.#room?.buffers.give(this.#taken);
    this.#taken = 0;
  }

  /** Backpressure: the upload waits while the file's writes queue up. */
  #pauseUntilDrained(s: Spool): void {
    this.#req.pause();
    s.out.once('drain', this.#onDrain);
  }

  /**
   * A fresh directory and file, opened synchronously (tens of microseconds, once per large batch)
   * so that no chunk arrives before the file exists.
   */
  #openSpool(): boolean {
    let dir: string | null = null;
    try {
      dir = mkdtempSync(join(this.#limits.tmpDir ?? tmpdir(), 'claude-meter-batch-'));
      const path = join(dir, 'body');
      const writeFd = openSync(path, 'wx', 0o600);
      const readFd = openSync(path, 'r');
      const out = createWriteStream('', { fd: writeFd, highWaterMark: this.#limits.spoolHighWater ?? SPOOL_HIGH_WATER });
      const s: Spool = { dir, out, readFd, reader: null };
      this.#spool = s;
      out.on('error', (err) => this.#fail(new SpoolFailed(err)));
      removeDir(s);
      return true;
    } catch (err) {
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
      this.#fail(new SpoolFailed(err));
      return false;
    }
  }

  #end(): void {
    if (this.#released) return this.#fail(new Error('request body released before it was read'));
    this.#detach();
    const scan = this.#scan.end();
    const s = this.#spool;
    if (s === null) {
      const body = Buffer.concat(this.#chunks, this.#size);
      this.#chunks.length = 0;
      this.#settle(body, scan);
      return;
    }
    s.out.end((err?: Error | null) => (err ? this.#fail(new SpoolFailed(err)) : this.#settle(this.#reader(s), scan)));
  }

  /** Past maxBytes: nothing more is scanned or held; what was read and the rest of the upload go on unread. */
  #oversized(chunk: Buffer): void {
    this.#req.pause(); // before the listeners go, so no chunk is emitted to nobody
    this.#detach();
    const s = this.#spool;
    const scan = this.#scan.cut();
    if (s === null) {
      this.#chunks.push(chunk);
      this.#settle(Readable.from(thenRest(this.#chunks.splice(0), this.#req)), scan);
      return;
    }
    // The file holds the body up to maxBytes (what the disk room reserved); the rest of this chunk goes on from memory.
    const cut = chunk.length - (this.#size - this.#limits.maxBytes);
    const tail = chunk.subarray(Math.max(0, cut));
    if (!this.#reserveDisk(this.#limits.maxBytes - this.#spooled)) return;
    s.out.end(chunk.subarray(0, Math.max(0, cut)), (err?: Error | null) =>
      err
        ? this.#fail(new SpoolFailed(err))
        : this.#settle(Readable.from(thenRest(this.#reader(s), tail.length > 0 ? [tail] : [], this.#req)), scan),
    );
  }

  #reader(s: Spool): Readable {
    s.reader = createReadStream('', { fd: s.readFd as number, start: 0 });
    s.readFd = null;
    return s.reader;
  }

  #settle(forward: Buffer | Readable, scan: R): void {
    if (this.#done) return;
    if (this.#released) return this.#fail(new Error('request body released before it was read'));
    this.#done = true;
    const oversized = this.#size > this.#limits.maxBytes;
    this.#resolve({
      forward,
      bytes: this.#size,
      scan,
      oversized,
      spooled: this.#spool !== null,
      release: () => this.release(),
      closed: () => this.closed(),
    });
  }

  /** Takes `n` more bytes from the room; false (the read rejected with BodiesFull) when they do not fit. */
  #reserve(n: number): boolean {
    const room = this.#room;
    if (room === null || n === 0) return true;
    if (room.buffers.take(n, room.max)) {
      this.#taken += n;
      return true;
    }
    this.#fail(new BodiesFull());
    return false;
  }

  /** Takes `n` more bytes of the disk room; false (the read rejected with BodiesFull) when they do not fit. */
  #reserveDisk(n: number): boolean {
    const room = this.#room;
    if (room?.spools === undefined || n <= 0) return true;
    if (room.spools.take(n, room.maxSpooled ?? Number.POSITIVE_INFINITY)) {
      this.#spooled += n;
      return true;
    }
    this.#fail(new BodiesFull('max_spooled_batch_bytes'));
    return false;
  }

  /** Rejects once the spool's write descriptor is closed too (it closes asynchronously, after writes in flight). */
  #fail(err: Error): void {
    this.#detach();
    this.release();
    if (this.#done) return;
    this.#done = true;
    const out = this.#spool?.out;
    if (out !== undefined && !out.closed) out.once('close', () => this.#reject(err));
    else this.#reject(err);
  }

  #detach(): void {
    const req = this.#req;
    req.off('data', this.#onData);
    req.off('end', this.#onEnd);
    req.off('error', this.#onError);
    req.off('close', this.#onClose);
    this.#spool?.out.off('drain', this.#onDrain);
  }
}

/** Unlinks the spool (its descriptors keep the bytes); where the system refuses while they are open, release() tries again. */
function removeDir(s: Spool): void {
  if (s.dir === null) return;
  try {
    rmSync(s.dir, { recursive: true, force: true });
    s.dir = null;
  } catch {
    // kept for release()
  }
}

async function* thenRest(...parts: (Iterable<Buffer> | AsyncIterable<Buffer>)[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield* part;
}
