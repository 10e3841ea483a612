/**
 * When a worker that died is started again. Pure: the primary passes the times of the slot's
 * recent deaths and waits as told. The delay doubles with each death in the window, so a
 * worker that dies at once on every start costs a few forks, not a busy loop; past the
 * bound the primary stops restarting and shuts down, since something is wrong that a
 * restart does not fix.
 */
export const RESTART_WINDOW_MS = 60_000;
export const RESTART_MAX_IN_WINDOW = 5;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;

export type RestartPlan = { restart: true; delayMs: number } | { restart: false };

/** `deaths`: epoch ms of this slot's deaths, this one included. */
export function restartPlan(deaths: readonly number[], now: number): RestartPlan {
  const recent = deaths.filter((t) => now - t < RESTART_WINDOW_MS).length;
  if (recent > RESTART_MAX_IN_WINDOW) return { restart: false };
  return { restart: true, delayMs: Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.max(0, recent - 1)) };
}
