/**
 * Waiting in the tests that need real time (real sockets, a real Redis, child processes): for
 * the event expected, bounded, never for a fixed time. Timing logic itself is tested on a
 * ManualClock; test/unit/repo/no-sleep.test.ts names the files allowed to wait in real time.
 */

/** Polls until `cond` holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `p`, or a failure naming `what` when it has not settled within `ms`. */
export async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}
