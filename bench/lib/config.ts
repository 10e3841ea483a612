/** Bench knobs from the environment. BENCH_QUICK=1 is a smoke run (~1 minute), not a measurement. */
import { KEYS } from './request.ts';

const env = process.env;
const quick = env['BENCH_QUICK'] === '1';
const num = (name: string, full: number, fast: number): number => {
  const v = env[name];
  if (v === undefined || v === '') return quick ? fast : full;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got '${v}'`);
  return n;
};

export const BENCH = {
  quick,
  seconds: num('BENCH_SECONDS', 5, 1),
  rounds: num('BENCH_ROUNDS', 7, 1),
  warmupSeconds: num('BENCH_WARMUP', 2, 0.5),
  /** BENCH_CONCURRENCY=64 (a comma list) measures only those levels: for focused experiments, not the table of docs/performance.md. */
  concurrencies: env['BENCH_CONCURRENCY'] ? env['BENCH_CONCURRENCY'].split(',').map(Number) : [1, 16, 64],
  /** The http-proxy-3 comparison engine is only measured where the engine decision is made. */
  variantConcurrencies: [1, 64],
  variant: env['BENCH_VARIANT'] !== '0',
  /** claude-meter with two budgets every request fits (target `meter+budgets`); BENCH_BUDGETS=0 leaves it out. */
  budgets: env['BENCH_BUDGETS'] !== '0',
  budgetsConfig: env['BENCH_BUDGETS_CONFIG'] || 'bench/budgets-two.yaml',
  budgetsConcurrencies: [1, 64],
  /** Distinct API keys the load rotates through (bench/lib/request.ts). */
  keys: KEYS,
  ttftRequests: num('BENCH_TTFT_N', 300, 30),
  ttftHoldMs: 50,
  streamMB: num('BENCH_STREAM_MB', 200, 20),
  /** A directory: run the proxy children (bare, meter, variant) under --cpu-prof and write their profiles there. */
  profileDir: env['BENCH_PROFILE'] ?? null,
};
