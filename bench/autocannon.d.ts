// autocannon ships no types; only the programmatic surface the bench uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  export interface Options {
    url: string;
    method?: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    /** Stop after this many requests (instead of duration). */
    amount?: number;
    timeout?: number;
    headers?: Record<string, string>;
    body?: string | Buffer;
    overallRate?: number;
    /** Cycled through in order by every connection; each entry overrides the defaults above. */
    requests?: Array<{ method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer }>;
  }
  export interface Result {
    errors: number;
    timeouts: number;
    non2xx: number;
    duration: number;
    requests: { total: number };
  }
  export interface Instance extends EventEmitter {
    stop(): void;
  }
  export default function autocannon(opts: Options, cb: (err: Error | null, result: Result) => void): Instance;
}
