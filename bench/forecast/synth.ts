/**
 * The nested evaluation's series (bench/forecast/nested.ts): the dev series of data/, whole-day
 * block bootstraps and rescaled mixes of them, and synthetic families with known structure.
 * Everything is seeded and deterministic: the same seed gives the same days, bit for bit.
 *
 * Every item names the groups it comes from (a source series, or a synthetic family), so the
 * nested split can keep resampled days with their source: an item counts on a side of the
 * split only when all its groups are on that side.
 *
 * Families (hourly, 21 days unless said):
 *  - weekday: an office-hours cycle with quiet weekends (×0.3–0.5), day noise 10 %;
 *  - trend: the same with a steady growth or decline of 2–5 % a day;
 *  - shift: a level ×2 or ×0.5 overnight at a random day (3–15), then flat;
 *  - burst: steady traffic plus, on one day in six, a few hours ×5–30 (programmatic jobs);
 *  - swings: a mean-reverting level (AR(1) in log, ±20 %), as ServeGen's days move;
 *  - regular-day: a very regular service (day totals ±2 %), a daytime peak, quiet noisy nights;
 *  - regular-night: the same regularity, a night-batch shape (most of the day before 06:00).
 */
import { prng } from '../../test/contract/fixtures.ts';
import { DAY_MS, HOUR_MS } from '../../src/core/time.ts';
import { dailyTable, resampleHourly, type Series } from '../../src/forecast/series.ts';
import type { EvalSeries } from './evaluate.ts';

export interface Item {
  name: string;
  /** Source series or family names this item's days come from. */
  groups: string[];
  /** rows[d][h]: day d, hour h (whole days only). */
  rows: Float64Array[];
  /** The family's structure: a regular service (day totals within a few %). */
  regular: boolean;
  /** Day index of a known level change (shift family), else null. */
  shiftDay: number | null;
}

/** mulberry32, the tests' own seeded PRNG (no Math.random in an evaluation). */
export const rng = prng;

function gauss(r: () => number): number {
  const u = Math.max(1e-12, r());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/** Whole days of an hourly-resampled series as rows. */
export function rowsOf(s: Series): Float64Array[] {
  return [...dailyTable(resampleHourly(s)).rows];
}

export function seriesOf(rows: readonly Float64Array[], fromDay = 0): Series {
  const values = new Float64Array(rows.length * 24);
  for (const [i, r] of rows.entries()) values.set(r, i * 24);
  return { start: fromDay * DAY_MS, stepMs: HOUR_MS, values };
}

/** Shape functions: relative rate at hour h (0..23). */
const SHAPES = {
  office: (h: number) => 0.15 + Math.exp(-(((h + 0.5 - 14) / 3.5) ** 2)),
  evening: (h: number) => 0.25 + Math.exp(-(((h + 0.5 - 20) / 3) ** 2)) + 0.4 * Math.exp(-(((h + 0.5 - 11) / 2.5) ** 2)),
  flat: (h: number) => 1 + 0.3 * Math.sin(((h + 0.5) / 24) * 2 * Math.PI),
  night: (h: number) => (h < 5 ? 3 : 0.4) + 0.2 * Math.exp(-(((h + 0.5 - 13) / 4) ** 2)),
} as const;
type ShapeName = keyof typeof SHAPES;

interface Gen {
  days: number;
  shape: ShapeName;
  /** log-level of day d (before noise). */
  level: (d: number) => number;
  /** Day-to-day log noise (sd). */
  daySd: number;
  /** Hourly multiplicative log noise sd; `quietSd` where the shape is below its mean. */
  hourSd: number;
  quietSd: number;
  weekend: number;
  burst?: { p: number; lo: number; hi: number };
}

function generate(g: Gen, r: () => number, scale: number): Float64Array[] {
  const f = SHAPES[g.shape];
  const base = Array.from({ length: 24 }, (_, h) => f(h));
  const mean = base.reduce((a, b) => a + b, 0) / 24;
  const weekendPhase = Math.floor(r() * 7);
  const rows: Float64Array[] = [];
  for (let d = 0; d < g.days; d++) {
    const weekend = (d + weekendPhase) % 7 >= 5 ? g.weekend : 1;
    const dayLevel = Math.exp(g.level(d) + g.daySd * gauss(r)) * weekend;
    const row = new Float64Array(24);
    for (let h = 0; h < 24; h++) {
      const quiet = (base[h] ?? 0) < mean;
      const sd = quiet ? g.quietSd : g.hourSd;
      row[h] = (scale * dayLevel * (base[h] ?? 0) * Math.exp(sd * gauss(r) - (sd * sd) / 2)) / (24 * mean);
    }
    if (g.burst && r() < g.burst.p) {
      const at = Math.floor(r() * 20);
      const len = 1 + Math.floor(r() * 4);
      const mult = g.burst.lo + r() * (g.burst.hi - g.burst.lo);
      for (let h = at; h < Math.min(24, at + len); h++) row[h] = (row[h] ?? 0) * mult;
    }
    rows.push(row);
  }
  return rows;
}

export const FAMILIES = ['weekday', 'trend', 'shift', 'burst', 'swings', 'regular-day', 'regular-night'] as const;
export type Family = (typeof FAMILIES)[number];

/** One member of a family, from its seed. */
export function familyItem(family: Family, seed: number): Item {
  const r = rng(seed * 7919 + FAMILIES.indexOf(family) * 104729 + 17);
  const scale = Math.exp(Math.log(100) + 6 * r()); // 100 … 40,000 a day: units do not matter to a ratio
  const days = 21;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  let shiftDay: number | null = null;
  let g: Gen;
  switch (family) {
    case 'weekday':
      g = {
        days,
        shape: pick(['office', 'evening'] as const),
        level: () => 0,
        daySd: 0.1,
        hourSd: 0.1,
        quietSd: 0.25,
        weekend: 0.3 + 0.2 * r(),
      };
      break;
    case 'trend': {
      const slope = (r() < 0.5 ? -1 : 1) * (0.02 + 0.03 * r());
      g = {
        days,
        shape: pick(['office', 'evening', 'flat'] as const),
        level: (d) => slope * d,
        daySd: 0.06,
        hourSd: 0.1,
        quietSd: 0.2,
        weekend: r() < 0.5 ? 1 : 0.5,
      };
      break;
    }
    case 'shift': {
      const at = 3 + Math.floor(r() * 13);
      const f = r() < 0.5 ? Math.log(2) : Math.log(0.5);
      shiftDay = at;
      g = {
        days,
        shape: pick(['office', 'flat', 'evening'] as const),
        level: (d) => (d >= at ? f : 0),
        daySd: 0.06,
        hourSd: 0.08,
        quietSd: 0.2,
        weekend: 1,
      };
      break;
    }
    case 'burst':
      g = {
        days,
        shape: pick(['office', 'flat'] as const),
        level: () => 0,
        daySd: 0.08,
        hourSd: 0.15,
        quietSd: 0.3,
        weekend: r() < 0.5 ? 1 : 0.5,
        burst: { p: 1 / 6, lo: 5, hi: 30 },
      };
      break;
    case 'swings': {
      // AR(1) in log with φ = 0.6: swings of ±20 % that come back within days.
      const z: number[] = [0];
      for (let d = 1; d < days; d++) z.push(0.6 * (z[d - 1] ?? 0) + 0.16 * gauss(r));
      g = {
        days,
        shape: pick(['flat', 'office', 'evening'] as const),
        level: (d) => z[d] ?? 0,
        daySd: 0.03,
        hourSd: 0.08,
        quietSd: 0.12,
        weekend: 1,
      };
      break;
    }
    case 'regular-day':
      g = { days, shape: pick(['office', 'evening'] as const), level: () => 0, daySd: 0.02, hourSd: 0.04, quietSd: 0.3, weekend: 1 };
      break;
    case 'regular-night':
      g = { days, shape: 'night', level: () => 0, daySd: 0.02, hourSd: 0.04, quietSd: 0.3, weekend: 1 };
      break;
  }
  return { name: `${family} #${seed}`, groups: [family], rows: generate(g, r, scale), regular: family.startsWith('regular'), shiftDay };
}

/**
 * Whole days of `rows` resampled in blocks of `block` consecutive days (a block keeps its days'
 * order, so weekly and day-to-day structure inside it survive), to `days` days.
 */
export function blockBootstrap(rows: readonly Float64Array[], days: number, block: number, seed: number): Float64Array[] {
  const r = rng(seed);
  const out: Float64Array[] = [];
  const b = Math.min(block, rows.length);
  while (out.length < days) {
    const from = Math.floor(r() * (rows.length - b + 1));
    for (let i = 0; i < b && out.length < days; i++) out.push(Float64Array.from(rows[from + i] ?? []));
  }
  return out;
}

/** a·x + b·y day by day (x and y rescaled to the same mean day first), to the shorter length. */
export function mix(x: readonly Float64Array[], y: readonly Float64Array[], a: number): Float64Array[] {
  const mean = (rs: readonly Float64Array[]) => rs.reduce((s, r) => s + r.reduce((p, v) => p + v, 0), 0) / Math.max(1, rs.length);
  const [mx, my] = [mean(x), mean(y)];
  const n = Math.min(x.length, y.length);
  return Array.from({ length: n }, (_, d) =>
    Float64Array.from({ length: 24 }, (_, h) => (a * (x[d]?.[h] ?? 0)) / (mx || 1) + ((1 - a) * (y[d]?.[h] ?? 0)) / (my || 1)),
  );
}

export interface ItemSetOptions {
  /** Members per synthetic family. */
  perFamily: number;
  /** Block bootstraps per source series. */
  bootstraps: number;
  /** Mixes per pair of sources (0: none). */
  mixes: boolean;
  seed: number;
}

export const FULL_ITEMS: ItemSetOptions = { perFamily: 3, bootstraps: 2, mixes: true, seed: 1 };

/**
 * The draw a command's `--seed N` (or `--seed=N`) asks for, FULL_ITEMS' without one. Up to
 * 1,000: each seed's streams sit in their own block below 2^32 (buildItems).
 */
export function seedOf(argv: readonly string[]): number {
  const at = argv.findIndex((a) => a === '--seed' || a.startsWith('--seed='));
  if (at < 0) return FULL_ITEMS.seed;
  const arg = argv[at]?.split('=')[1] ?? argv[at + 1];
  const seed = Number(arg);
  if (!Number.isInteger(seed) || seed < 1 || seed > 1000) throw new RangeError(`--seed must be an integer from 1 to 1000, got ${arg}`);
  return seed;
}

/** The whole evaluation set: sources as they are, their bootstraps and mixes, and the families. */
export function buildItems(sources: readonly EvalSeries[], o: ItemSetOptions = FULL_ITEMS): Item[] {
  const out: Item[] = [];
  // Each seed's resampling streams lie in a block of their own (10,000 apart), so two seeds
  // never share one; seed 1's are the ones the documented figures were measured on. Within a
  // block, bootstraps take 1000 + 37·i + b: up to 27 sources before they reach the mixes'.
  if (sources.length > 27 || o.bootstraps > 37) throw new RangeError('at most 27 sources and 37 bootstraps each');
  const stream = (n: number) => n + 10_000 * (o.seed - 1);
  const srcRows = sources.map((s) => ({ name: s.name, rows: rowsOf(s.series) }));
  srcRows.forEach((s, i) => {
    out.push({ name: s.name, groups: [s.name], rows: s.rows, regular: false, shiftDay: null });
    // Blocks of a week where there are weeks to keep (BurstGPT), else of 3 days.
    const block = s.rows.length >= 21 ? 7 : 3;
    for (let b = 0; b < o.bootstraps; b++) {
      const rows = blockBootstrap(s.rows, 21, block, stream(1000 + i * 37 + b));
      out.push({ name: `${s.name} boot#${b}`, groups: [s.name], rows, regular: false, shiftDay: null });
    }
  });
  if (o.mixes) {
    // Each source with the next one, rescaled to equal mean days, 70/30, over bootstraps to 21 days.
    srcRows.forEach((s, i) => {
      const t = srcRows[(i + 1) % srcRows.length];
      if (t === undefined || t === s) return;
      const x = blockBootstrap(s.rows, 21, s.rows.length >= 21 ? 7 : 3, stream(2000 + i));
      const y = blockBootstrap(t.rows, 21, t.rows.length >= 21 ? 7 : 3, stream(3000 + i));
      out.push({ name: `mix ${s.name} + ${t.name}`, groups: [s.name, t.name], rows: mix(x, y, 0.7), regular: false, shiftDay: null });
    });
  }
  for (const f of FAMILIES) for (let k = 0; k < o.perFamily; k++) out.push(familyItem(f, o.seed * 100 + k));
  return out;
}
