/**
 * How wide the forecast band is with no history (LINEAR_BAND in src/forecast/model.ts). A new
 * deployment's projection is its pace so far, extrapolated to the window's end; this measures
 * how far the truth falls from that on the dev series of data/ (bench/forecast/harness.ts):
 * a deployment that starts at every 10-minute mark of every day, watched for 10 min to 8 h,
 * then extrapolated to the day's end (starts less than an hour before it left out). The
 * ratio is what was then spent over what the pace promised; p10 and p90 over all starts,
 * each series weighted alike, are the band. Also the share of ratios inside the band in use.
 *
 *   npx tsx bench/cold-start-band.ts
 */
import { LINEAR_BAND } from '../src/forecast/model.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../src/core/time.ts';
import { loadDevSeries } from './forecast/harness.ts';

const WATCHED_MIN = [10, 30, 60, 120, 240, 480];
const START_STEP_MS = 10 * MINUTE_MS;

/** Quantile p of values weighted by weights. */
function weightedQuantile(points: ReadonlyArray<[value: number, weight: number]>, p: number): number {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((t, x) => t + x[1], 0);
  let acc = 0;
  for (const [v, w] of sorted) {
    acc += w;
    if (acc >= p * total) return v;
  }
  return sorted.at(-1)?.[0] ?? Number.NaN;
}

const pooled: Array<[number, number]> = [];
const rows: string[] = [];
const inside = (rs: readonly number[]) => rs.filter((r) => r >= LINEAR_BAND[0] && r <= LINEAR_BAND[1]).length / rs.length;
for (const { name, series } of loadDevSeries()) {
  const { start, stepMs, values } = series;
  const prefix = [0];
  for (const v of values) prefix.push((prefix.at(-1) ?? 0) + v);
  // Spend in [start, t), spread evenly inside a bucket.
  const cum = (t: number) => {
    const i = (t - start) / stepMs;
    const k = Math.min(Math.floor(i), values.length);
    return (prefix[k] ?? 0) + (k < values.length ? (values[k] ?? 0) * (i - k) : 0);
  };
  const ratios: number[] = [];
  for (let d = 0; d < Math.floor((values.length * stepMs) / DAY_MS); d++) {
    const end = start + (d + 1) * DAY_MS;
    for (const watched of WATCHED_MIN) {
      for (let t0 = start + d * DAY_MS; t0 + watched * MINUTE_MS < end - HOUR_MS; t0 += START_STEP_MS) {
        const t1 = t0 + watched * MINUTE_MS;
        const seen = cum(t1) - cum(t0);
        if (!(seen > 0)) continue; // nothing spent yet: no projection (not computed)
        ratios.push((cum(end) - cum(t1)) / ((seen / (t1 - t0)) * (end - t1)));
      }
    }
  }
  for (const r of ratios) pooled.push([r, 1 / ratios.length]);
  const q = (p: number) =>
    weightedQuantile(
      ratios.map((r) => [r, 1]),
      p,
    ).toFixed(2);
  rows.push(
    `  ${name.padEnd(22)} ${String(ratios.length).padStart(6)}  ${q(0.1)}  ${q(0.5)}  ${q(0.9).padStart(6)}  ${Math.round(100 * inside(ratios))}%`,
  );
}
console.log(`what was spent ÷ what the pace so far promised, watched ${WATCHED_MIN.join('/')} min, from every 10-minute start:`);
console.log(
  `  ${'series'.padEnd(22)} ${'starts'.padStart(6)}  p10   p50   ${'p90'.padStart(6)}  inside ×${LINEAR_BAND[0]}–×${LINEAR_BAND[1]}`,
);
for (const r of rows) console.log(r);
const share =
  pooled.filter(([r]) => r >= LINEAR_BAND[0] && r <= LINEAR_BAND[1]).reduce((t, [, w]) => t + w, 0) / pooled.reduce((t, [, w]) => t + w, 0);
console.log(
  `  ${'all, series alike'.padEnd(22)} ${String(pooled.length).padStart(6)}  ${weightedQuantile(pooled, 0.1).toFixed(2)}  ${weightedQuantile(pooled, 0.5).toFixed(2)}  ${weightedQuantile(pooled, 0.9).toFixed(2).padStart(6)}  ${Math.round(100 * share)}%`,
);
