/**
 * A published forecast: cumulative expected spend from the fit instant to each knot,
 * as p10/p50/p90, for one budget instance and window. Small and JSON-safe, so the proxy
 * that refits can share it through the store and every proxy can update it between
 * refits: projected end = spent now + (path(windowEnd) − path(now)). Pure.
 */
import { HOUR_MS } from '../core/time.ts';
import type { Forecaster } from './model.ts';

export interface ForecastPath {
  budget: string;
  instance: string;
  windowId: string;
  windowStart: number;
  windowEnd: number;
  fittedAt: number;
  method: string;
  coldStart: boolean;
  note?: string;
  /** The model believes the level moved today (model.ts Projection.levelChanged). */
  levelChanged?: boolean;
  /** [t, cum p10, cum p50, cum p90] of spend after fittedAt (pico-USD), t ascending, first knot at fittedAt with zeros. */
  knots: [number, number, number, number][];
}

/** Knot times: hourly for two days, then every 6 hours, then the window end. */
export function knotTimes(from: number, end: number): number[] {
  const out: number[] = [];
  let t = from;
  while (t < end) {
    out.push(t);
    t += t - from < 48 * HOUR_MS ? HOUR_MS : 6 * HOUR_MS;
  }
  out.push(end);
  return out;
}

export function buildPath(
  f: Forecaster,
  meta: Omit<ForecastPath, 'knots' | 'method' | 'coldStart' | 'note' | 'levelChanged'>,
  spentAtFit: number,
): ForecastPath {
  const knots: ForecastPath['knots'] = [];
  let method = 'linear';
  let cold = true;
  let note: string | undefined;
  let levelChanged = false;
  for (const t of knotTimes(meta.fittedAt, meta.windowEnd)) {
    if (t === meta.fittedAt) {
      knots.push([t, 0, 0, 0]);
      continue;
    }
    const p = f.projectWindow({ windowStart: meta.windowStart, windowEnd: t, now: meta.fittedAt, spentSoFar: spentAtFit });
    method = p.method;
    cold = p.coldStart;
    note = p.note;
    levelChanged = p.levelChanged === true;
    const prev = knots[knots.length - 1] ?? [t, 0, 0, 0];
    // Quantiles of different horizons come from different calibrations: keep every path monotone.
    knots.push([t, Math.max(prev[1], p.p10 - spentAtFit), Math.max(prev[2], p.p50 - spentAtFit), Math.max(prev[3], p.p90 - spentAtFit)]);
  }
  return { ...meta, method, coldStart: cold, ...(note === undefined ? {} : { note }), levelChanged, knots };
}

/** Cumulative spend of quantile q (1 = p10, 2 = p50, 3 = p90) at time t, linear between knots. */
export function pathAt(p: ForecastPath, q: 1 | 2 | 3, t: number): number {
  const k = p.knots;
  if (k.length === 0) return 0;
  const first = k[0];
  if (!first || t <= first[0]) return 0;
  for (let i = 1; i < k.length; i++) {
    const a = k[i - 1];
    const b = k[i];
    if (!a || !b) break;
    if (t <= b[0]) return a[q] + ((b[q] - a[q]) * (t - a[0])) / Math.max(1, b[0] - a[0]);
  }
  return k[k.length - 1]?.[q] ?? 0;
}

export interface LiveProjection {
  p10: number;
  p50: number;
  p90: number;
  /** Epoch ms when the p50 path reaches the limit inside the window, or null. */
  exhaustionAt: number | null;
  /** The same on the p90 path (the earliest likely exhaustion) and on the p10 path (the latest). */
  exhaustionEarliest: number | null;
  exhaustionLatest: number | null;
  /** Expected spend rate over the next hour at p50 and p90 (pico-USD per hour). */
  rateP50: number;
  rateP90: number;
}

/** The published path brought up to `now` with the spend actually seen since the fit. */
export function project(p: ForecastPath, spentNow: number, now: number, limitPico: number | null): LiveProjection {
  const rem = (q: 1 | 2 | 3) => Math.max(0, pathAt(p, q, p.windowEnd) - pathAt(p, q, now));
  const p50 = spentNow + rem(2);
  const crossing = (q: 1 | 2 | 3) => exhaustion(p, q, spentNow, now, limitPico);
  const next = Math.min(p.windowEnd, now + HOUR_MS);
  const scale = next > now ? HOUR_MS / (next - now) : 0;
  return {
    p10: spentNow + rem(1),
    p50,
    p90: spentNow + rem(3),
    exhaustionAt: crossing(2),
    exhaustionEarliest: crossing(3),
    exhaustionLatest: crossing(1),
    rateP50: (pathAt(p, 2, next) - pathAt(p, 2, now)) * scale,
    rateP90: (pathAt(p, 3, next) - pathAt(p, 3, now)) * scale,
  };
}

/** When the path of quantile q, brought up to spentNow at now, first reaches the limit (null: not in the window). */
function exhaustion(p: ForecastPath, q: 1 | 2 | 3, spentNow: number, now: number, limitPico: number | null): number | null {
  if (limitPico === null) return null;
  if (spentNow >= limitPico) return now;
  const base = pathAt(p, q, now);
  let prevT = now;
  let prevV = spentNow;
  for (const k of p.knots) {
    if (k[0] <= now) continue;
    const v = spentNow + (k[q] - base);
    if (v >= limitPico) return Math.round(prevT + ((limitPico - prevV) * (k[0] - prevT)) / Math.max(1e-9, v - prevV));
    prevT = k[0];
    prevV = v;
  }
  return null;
}
