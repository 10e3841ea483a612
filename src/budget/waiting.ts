/**
 * Requests that fit a budget's limit but not the reservations in flight wait here for those
 * to settle instead of being refused. One FIFO per budget instance in this proxy; only its
 * head retries, on a wake (a settle here or on another proxy, or the safety-net poll), and a
 * newcomer queues behind existing waiters, so a large request is never overtaken by small ones.
 * Idle waiting is timers and promises only: nothing runs until a wake or a deadline.
 */
import type { TimerHandle, Timers } from '../lib/clock.ts';

/** What one admission attempt of a waiter concluded: finished, or still blocked on instance `key`. */
export type Attempt<T> = { kind: 'done'; value: T } | { kind: 'blocked'; key: string };

export interface WaitRequest<T> {
  /** The instance queue to join, and its metric label (the budget name). */
  key: string;
  label: string;
  maxQueue: number;
  maxWaitMs: number;
  /** One admission attempt; must not throw (store errors are a `done` value). */
  attempt: () => Promise<Attempt<T>>;
  /** The answer when the wait ends without admission (`queue_full` when it never started). */
  expired: (how: 'timeout' | 'queue_full') => T;
  left: () => T;
  /** Aborts when the client goes away. */
  signal?: AbortSignal;
  /** wakeCount() read before the attempt that led here: a wake since then (it may have been missed) means try now. */
  seenWakes: number;
}

interface Waiter<T> {
  req: WaitRequest<T>;
  resolve: (v: T) => void;
  /** Set when the deadline passed or the client left while an attempt ran; handled after it. */
  ended: 'timeout' | 'left' | null;
  /** It has not tried since becoming head (or a wake came while it waited). */
  due: boolean;
  timer: TimerHandle;
  onAbort: () => void;
}

interface Queue<T> {
  key: string;
  items: Waiter<T>[];
  running: boolean;
  /** A wake arrived while the head's attempt ran: it tries again when that attempt returns. */
  again: boolean;
}

/** Safety net for a lost cross-proxy wake-up: heads retry at about this interval (jittered ±50%). */
export const POLL_MS = 250;

export class WaitingRoom<T> {
  readonly #queues = new Map<string, Queue<T>>();
  #wakes = 0;
  readonly #depths = new Map<string, number>();
  readonly #onDepth: (label: string, depth: number) => void;
  readonly #pollMs: number;
  readonly #clock: Timers;
  #poll: TimerHandle | null = null;

  constructor(opts: { clock: Timers; onDepth?: (label: string, depth: number) => void; pollMs?: number }) {
    this.#clock = opts.clock;
    this.#onDepth = opts.onDepth ?? (() => undefined);
    this.#pollMs = opts.pollMs ?? POLL_MS;
  }

  /** Nobody waits anywhere in this proxy (the usual case: callers skip computing keys). */
  get idle(): boolean {
    return this.#queues.size === 0;
  }

  /** Whether anyone waits on `key` in this proxy: a newcomer touching it must queue behind them. */
  occupied(key: string): boolean {
    return (this.#queues.get(key)?.items.length ?? 0) > 0;
  }

  /** Wakes so far, on any key; see WaitRequest.seenWakes. */
  wakeCount(): number {
    return this.#wakes;
  }

  /** Joins the queue of `req.key` (at the back) and resolves with the waiter's answer. */
  wait(req: WaitRequest<T>): Promise<T> {
    if (req.signal?.aborted === true) return Promise.resolve(req.left());
    let q = this.#queues.get(req.key);
    if ((q?.items.length ?? 0) >= req.maxQueue) return Promise.resolve(req.expired('queue_full'));
    if (q === undefined) {
      q = { key: req.key, items: [], running: false, again: false };
      this.#queues.set(req.key, q);
    }
    const queue = q;
    return new Promise<T>((resolve) => {
      const w: Waiter<T> = {
        req,
        resolve,
        ended: null,
        due: this.#wakes !== req.seenWakes,
        timer: this.#clock.setTimeout(() => this.#end(w, 'timeout'), req.maxWaitMs),
        onAbort: () => this.#end(w, 'left'),
      };
      req.signal?.addEventListener('abort', w.onAbort, { once: true });
      this.#join(queue, w);
      if (w.due && queue.items[0] === w) void this.#run(queue);
    });
  }

  /** A reservation on `key` was released (a settle, here or elsewhere): its head retries. */
  wake(key: string): void {
    this.#wakes++;
    const q = this.#queues.get(key);
    if (q === undefined) return;
    const head = q.items[0];
    if (head) head.due = true;
    if (q.running) q.again = true;
    else void this.#run(q);
  }

  /** A reservation was released somewhere, while nobody waits: only counted (see WaitRequest.seenWakes). */
  noteWake(): void {
    this.#wakes++;
  }

  /** Every waiter gets its timeout answer now (shutdown). */
  close(): void {
    for (const q of this.#queues.values()) for (const w of [...q.items]) this.#finish(q, w, w.req.expired('timeout'));
    this.#stopPoll();
  }

  #join(q: Queue<T>, w: Waiter<T>): void {
    q.items.push(w);
    this.#depth(w.req.label, 1);
    this.#startPoll();
  }

  #end(w: Waiter<T>, how: 'timeout' | 'left'): void {
    const q = this.#queues.get(w.req.key);
    if (q === undefined || !q.items.includes(w)) return;
    // The head's attempt is running: its answer (perhaps admitted) decides, then this applies.
    if (q.running && q.items[0] === w) {
      w.ended ??= how;
      return;
    }
    this.#finish(q, w, how === 'left' ? w.req.left() : w.req.expired('timeout'));
    void this.#run(q);
  }

  #finish(q: Queue<T>, w: Waiter<T>, value: T): void {
    const i = q.items.indexOf(w);
    if (i < 0) return;
    q.items.splice(i, 1);
    this.#clock.clearTimeout(w.timer);
    w.req.signal?.removeEventListener('abort', w.onAbort);
    this.#depth(w.req.label, -1);
    // A new head has not tried since the waiters before it left: it tries at once.
    if (i === 0 && q.items[0]) q.items[0].due = true;
    if (q.items.length === 0 && !q.running) this.#queues.delete(q.key);
    if (this.#queues.size === 0) this.#stopPoll();
    w.resolve(value);
  }

  async #run(q: Queue<T>): Promise<void> {
    if (q.running) return;
    q.running = true;
    try {
      for (let w = q.items[0]; w !== undefined; w = q.items[0]) {
        if (w.ended !== null) {
          this.#finish(q, w, w.ended === 'left' ? w.req.left() : w.req.expired('timeout'));
          continue;
        }
        if (!w.due) break;
        w.due = false;
        q.again = false;
        let r: Attempt<T>;
        try {
          r = await w.req.attempt();
        } catch {
          r = { kind: 'done', value: w.req.expired('timeout') }; // a bug in an attempt must not strand the queue
        }
        if (r.kind === 'done') {
          this.#finish(q, w, r.value);
        } else if (w.ended === null && r.key !== q.key) {
          this.#move(q, w, r.key); // now blocked by another instance: wait for its settles
        } else if (q.again) {
          w.due = true;
        }
      }
    } finally {
      q.running = false;
      if (q.items.length === 0 && this.#queues.get(q.key) === q) this.#queues.delete(q.key);
      if (this.#queues.size === 0) this.#stopPoll();
    }
  }

  #move(from: Queue<T>, w: Waiter<T>, key: string): void {
    from.items.shift();
    if (from.items[0]) from.items[0].due = true;
    let to = this.#queues.get(key);
    if (to === undefined) {
      to = { key, items: [], running: false, again: false };
      this.#queues.set(key, to);
    }
    w.req = { ...w.req, key };
    w.due = false;
    to.items.push(w);
  }

  #depth(label: string, delta: number): void {
    const n = (this.#depths.get(label) ?? 0) + delta;
    if (n === 0) this.#depths.delete(label);
    else this.#depths.set(label, n);
    this.#onDepth(label, n);
  }

  #startPoll(): void {
    if (this.#poll !== null) return;
    const tick = (): void => {
      for (const key of [...this.#queues.keys()]) this.wake(key);
      this.#poll = this.#queues.size > 0 ? this.#clock.setTimeout(tick, this.#jitter()).unref() : null;
    };
    this.#poll = this.#clock.setTimeout(tick, this.#jitter()).unref();
  }

  #stopPoll(): void {
    if (this.#poll !== null) this.#clock.clearTimeout(this.#poll);
    this.#poll = null;
  }

  #jitter(): number {
    return Math.round(this.#pollMs * (0.5 + this.#clock.random()));
  }
}
