/**
 * How many workers `--workers auto` starts: the cores this process may use. Node's
 * availableParallelism() counts the CPUs of its affinity mask, not a container's CPU quota,
 * so a container limited to 2 CPUs on a 64-core host would fork 64 workers that share 2
 * CPUs of time. The quota is read from cgroup v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us` and
 * `cpu.cfs_period_us`); these functions take the files' text, main.ts reads them.
 */

/** The text of the cgroup files, null where absent. */
export interface CgroupCpuFiles {
  /** cgroup v2 `cpu.max`: "QUOTA PERIOD", or "max PERIOD" for no quota. */
  cpuMax: string | null;
  /** cgroup v1 `cpu.cfs_quota_us`: microseconds per period, -1 for no quota. */
  cfsQuotaUs: string | null;
  /** cgroup v1 `cpu.cfs_period_us`. */
  cfsPeriodUs: string | null;
}

/** CPUs of quota (fractional: "150000 100000" is 1.5), or null when no quota applies. */
export function cgroupCpuLimit(files: CgroupCpuFiles): number | null {
  if (files.cpuMax !== null) {
    const [quota, period] = files.cpuMax.trim().split(/\s+/);
    return ratio(quota, period ?? '100000');
  }
  if (files.cfsQuotaUs !== null && files.cfsPeriodUs !== null) return ratio(files.cfsQuotaUs.trim(), files.cfsPeriodUs.trim());
  return null;
}

function ratio(quota: string | undefined, period: string): number | null {
  if (quota === undefined || quota === 'max' || quota === '-1') return null;
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return null;
  return q / p;
}

/**
 * Workers for `auto`: the available CPUs, capped by the quota rounded down (a 1.5-CPU quota
 * runs one worker: a second would only queue for the same time slices), at least 1.
 */
export function autoWorkers(availableParallelism: number, quotaCpus: number | null): number {
  const cap = quotaCpus === null ? availableParallelism : Math.min(availableParallelism, Math.floor(quotaCpus));
  return Math.max(1, cap);
}

/** The most workers a value may ask for: far past any core count, low enough to catch a typo. */
export const MAX_WORKERS = 256;

/** `--workers` or CLAUDE_METER_WORKERS: a count from 1, or `auto` (0 means auto too, as in the config). */
export function parseWorkers(text: string): number | 'auto' | null {
  const t = text.trim();
  if (t === 'auto' || t === '0') return 'auto';
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= 1 && n <= MAX_WORKERS ? n : null;
}
