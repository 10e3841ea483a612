/**
 * Real redis-server processes for tests: never the shared 127.0.0.1:6379, always a free
 * port of our own, with a private temp dir (logs, AOF, cluster config) removed at the end.
 * Every process is killed on process exit too, so a crashed test leaves nothing running.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const run = promisify(execFile);

export interface StartRedisOptions {
  /** AOF with fsync on every write in the private dir: acknowledged writes survive SIGKILL and restart(). */
  persist?: boolean;
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  args?: string[];
  /** Listen on this port (one a client was told about before the server existed); default: a free one. */
  port?: number;
  /** Registers close() as this test's teardown. */
  t?: { after(fn: () => unknown): void };
}

export interface RedisServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The private working dir (logs, AOF). */
  readonly dir: string;
  /** SIGTERM and wait for exit (a clean shutdown). */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash; without `persist`, all data is gone. */
  kill(): Promise<void>;
  /** Start again on the same port and dir (stops a running server first). */
  restart(): Promise<void>;
  /** Stop for good and delete the dir. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

/** Last-resort cleanup; sync because 'exit' handlers cannot await. */
function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = (): void => {
    for (const c of live) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      process.kill(process.pid, sig); // re-raise: our listener replaced the default exit
    });
  }
}

function makeDir(): string {
  hookProcessExit();
  const dir = mkdtempSync(join(tmpdir(), 'cm-redis-'));
  dirs.add(dir);
  return dir;
}

/** Port 0 asks the kernel for a free port; released before the server binds it, so callers retry on a lost race. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** One RESP round trip over a raw socket (no client library, no reconnect noise). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    // -LOADING while an AOF is replayed: not ready yet.
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

class AddrInUse extends Error {}

/** A redis-server process bound to one port; start() may be called again after exit. */
class RedisProcess {
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  constructor(
    readonly port: number,
    readonly dir: string,
    readonly args: readonly string[],
  ) {}

  get #logFile(): string {
    return join(this.dir, `redis-${this.port}.log`);
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', HOST, '--dir', this.dir, '--logfile', this.#logFile, ...this.args],
      { stdio: 'ignore' },
    );
    // Unref'd so a forgotten server cannot hold the test process open; the exit hook kills it.
    child.unref();
    live.add(child);
    this.#child = child;
    let exited = false;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        exited = true;
        live.delete(child);
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exited) {
        const log = this.#readLog();
        if (/address already in use/i.test(log)) throw new AddrInUse(`port ${this.port} in use`);
        throw new Error(`redis-server on port ${this.port} exited during startup:\n${log}`);
      }
      if (await ping(this.port)) return;
      await sleep(20);
    }
    await this.signal('SIGKILL');
    throw new Error(`redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms`);
  }

  /** Sends the signal and waits for the process to be gone. */
  async signal(sig: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    child.ref(); // keep the loop alive while we wait for the exit
    child.kill(sig);
    await this.#exited;
  }

  #readLog(): string {
    try {
      return readFileSync(this.#logFile, 'utf8');
    } catch {
      return '(no log written)';
    }
  }
}

/** Starts on a fresh free port, retrying when another process grabbed it first. */
async function startOnFreePort(dir: string, args: (port: number) => Promise<string[]> | string[]): Promise<RedisProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = new RedisProcess(port, dir, await args(port));
    try {
      await proc.start();
      return proc;
    } catch (err) {
      if (!(err instanceof AddrInUse) || attempt >= 5) throw err;
    }
  }
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = makeDir();
  const durability = opts.persist ? ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'] : ['--save', '', '--appendonly', 'no'];
  const args = [...durability, ...(opts.args ?? [])];
  let proc: RedisProcess;
  if (opts.port === undefined) proc = await startOnFreePort(dir, () => args);
  else {
    proc = new RedisProcess(opts.port, dir, args);
    await proc.start();
  }
  const server: RedisServer = {
    url: `redis://${HOST}:${proc.port}`,
    host: HOST,
    port: proc.port,
    dir,
    stop: () => proc.signal('SIGTERM'),
    kill: () => proc.signal('SIGKILL'),
    async restart() {
      await proc.signal('SIGTERM');
      // Same port by contract: retry briefly if the old socket has not been released yet.
      for (let attempt = 0; ; attempt++) {
        try {
          return await proc.start();
        } catch (err) {
          if (!(err instanceof AddrInUse) || attempt >= 50) throw err;
          await sleep(100);
        }
      }
    },
    async close() {
      await proc.signal('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  opts.t?.after(() => server.close());
  return server;
}

export interface RedisCluster {
  nodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

/** Three masters, no replicas, all 16384 slots assigned; resolves when every node says cluster_state:ok. */
export async function startRedisCluster(opts: { t?: { after(fn: () => unknown): void } } = {}): Promise<RedisCluster> {
  const dir = makeDir();
  const procs: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.signal('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };
  try {
    for (let i = 0; i < 3; i++) {
      procs.push(
        await startOnFreePort(dir, async (port) => [
          ...['--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes'],
          ...['--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '5000'],
          // The bus port is explicit (Redis 7 `cluster-port`): port+10000 may be taken or > 65535.
          ...['--cluster-port', String(await freePort())],
        ]),
      );
    }
    const addrs = procs.map((p) => `${HOST}:${p.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + READY_TIMEOUT_MS * 3;
    for (const p of procs) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(p.port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok') && stdout.includes('cluster_known_nodes:3')) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${p.port} not ok:\n${stdout}`);
        await sleep(50);
      }
    }
    // Every node ok is not yet every node agreeing: right after the create, gossip can still
    // carry an older owner of some slots on one node, and a client that starts then is
    // bounced between two nodes past its redirection limit (MOVED, seen under CI load). Wait
    // until all three give the same owner for every slot and no node is still in handshake.
    for (;;) {
      const views = await Promise.all(
        procs.map(async (p) => (await run('redis-cli', ['-h', HOST, '-p', String(p.port), 'cluster', 'nodes'])).stdout),
      );
      const owners = views.map(slotOwners);
      const agreed = owners.every((o) => o === owners[0]) && (owners[0] ?? '').split(';').filter((m) => /\d-\d/.test(m)).length === 3;
      if (agreed && !views.some((v) => /handshake|fail|noaddr/.test(v))) break;
      if (Date.now() > deadline) throw new Error(`cluster nodes disagree:\n${views.join('\n---\n')}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const cluster = { nodes: procs.map((p) => ({ host: HOST, port: p.port })), stop };
  opts.t?.after(stop);
  return cluster;
}

/** A node's view of slot ownership from `CLUSTER NODES`: each master's address with its slot ranges, sorted. */
function slotOwners(nodes: string): string {
  return nodes
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter((f) => f.length > 8 && (f[2] ?? '').includes('master'))
    .map((f) => `${(f[1] ?? '').split('@')[0]} ${f.slice(8).join(',')}`)
    .sort()
    .join(';');
}
