/**
 * The stacked form of the profile method (candidate (b) of the design): a weighted ridge
 * regression (ml-regression-multivariate-linear) over past days at the same hour of
 *
 *   log(remaining actual / remaining planned) ~ β0 + β1·log ρ_day + β2·log ρ_recent
 *
 * ρ_day is how far the day so far ran above plan, ρ_recent the same over its last hours.
 * The ridge pulls β toward the power form's prior (0, w0, 0), so with few days it is the
 * power form, and only evidence moves it. Rows are √weight-scaled (weighted least squares).
 */
import MLR from 'ml-regression-multivariate-linear';
import { stackFeatures, type DayObs, type DayPrior } from './methods.ts';
import { curveAt } from './shape.ts';

export interface StackRow {
  prior: DayPrior;
  obs: DayObs;
  actual: number;
  weight: number;
}

export function fitStack(rows: readonly StackRow[], w0: number, k: number, ridge: number): number[] {
  const prior = [0, w0, 0];
  const x: number[][] = [];
  const y: number[][] = [];
  for (const r of rows) {
    const b = r.prior.level;
    const c = curveAt(r.prior.curves.profile, r.obs.h);
    if (!(b > 0)) continue;
    const target = Math.log((Math.max(0, r.actual - r.obs.cum) + k * b) / (b * (1 - c) + k * b));
    const s = Math.sqrt(r.weight);
    x.push(stackFeatures(r.prior, r.obs, k).map((v) => v * s));
    y.push([target * s]);
  }
  for (let i = 0; i < prior.length; i++) {
    const row = [0, 0, 0];
    row[i] = Math.sqrt(ridge);
    x.push(row);
    y.push([Math.sqrt(ridge) * (prior[i] ?? 0)]);
  }
  const fit = new MLR(x, y, { intercept: false, statistics: false });
  return fit.weights.map((c) => (Number.isFinite(c[0]) ? (c[0] ?? 0) : 0));
}
