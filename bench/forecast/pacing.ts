/**
 * Pacing judged by its outcome (issue #21): each dev series of harness.ts replayed through
 * `simulate` (src/simulate/: the real gate, pacer, budget store and forecaster on a simulated
 * clock) with a daily budget at 70% of the series' median day, from day 7 (the days before
 * warm the forecaster) for up to 7 days, three ways: the cap alone (`reject`), and `throttle` in
 * `reject` and in `delay` mode. Per run: the share of the limit used by each day's end (mean),
 * the time pacing held requests back while the budget had room (per day), and the days the
 * budget ran out early. Requests are scaled to about MAX_REQUESTS per run (each carrying the
 * tokens of the ones it stands for, so spend is exact).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { buildPricer } from '../../src/pricing/build.ts';
import { planRequests } from '../../src/simulate/requests.ts';
import { simulate } from '../../src/simulate/run.ts';
import type { Outcomes } from '../../src/simulate/types.ts';
import { DAY_MS } from '../../src/core/time.ts';
import { DEV_FILES } from './harness.ts';

export const PACING_MODES = ['cap only', 'throttle, reject', 'throttle, delay'] as const;
export type PacingMode = (typeof PACING_MODES)[number];

const MODEL_AS = 'claude-sonnet-4-6';
/** $3 / $15 per MTok: claude-sonnet-4-6's list prices, what the simulation bills. */
const PRICE = { input: 3e-6, output: 15e-6 };
const FROM_DAY = 7;
const DAYS = 7;
const LIMIT_SHARE = 0.7;
const MAX_REQUESTS = 12_000;

export interface PacingRow {
  series: string;
  mode: PacingMode;
  limitUsd: number;
  outcomes: Outcomes;
}

function configYaml(mode: PacingMode, limitUsd: number): string {
  const action = mode === 'cap only' ? 'reject' : 'throttle';
  const throttle = mode === 'throttle, delay' ? 'delay' : 'reject';
  // Updates every 5 minutes and refits hourly (the defaults are 30 s and 5 min): a refit is most of the cost.
  return `budgets:\n  - name: daily\n    window: day\n    limit_usd: ${limitUsd}\n    action: ${action}\n    throttle:\n      mode: ${throttle}\nforecast:\n  update_interval_ms: 300000\n  refit_interval_ms: 3600000\n`;
}

export async function evaluatePacing(dir = 'data', modes: readonly PacingMode[] = PACING_MODES): Promise<PacingRow[]> {
  const rows: PacingRow[] = [];
  for (const [series, file, o] of DEV_FILES) {
    const text = readFileSync(join(dir, file), 'utf8');
    const plan = (scale?: number) =>
      planRequests(text, {
        modelAs: MODEL_AS,
        historyDays: 28,
        fromDay: FROM_DAY,
        days: DAYS,
        ...(o.model === undefined ? {} : { model: o.model }),
        ...(scale === undefined ? {} : { scale }),
      });
    const scale = Math.min(1, Number((MAX_REQUESTS / Math.max(1, plan(1).sourceRequests)).toPrecision(2)));
    // The median simulated day's demand, priced as the simulation prices it (a scaled plan carries the same tokens).
    const scaled = plan(scale);
    const perDay = new Map<number, number>();
    for (const r of scaled.requests()) {
      const d = Math.floor((r.ts - scaled.day0) / DAY_MS);
      if (r.ts >= scaled.from) perDay.set(d, (perDay.get(d) ?? 0) + r.inputTokens * PRICE.input + r.outputTokens * PRICE.output);
    }
    const days = [...perDay.values()].sort((a, b) => a - b);
    const limitUsd = Math.round(LIMIT_SHARE * (days[Math.floor(days.length / 2)] ?? 0) * 100) / 100;
    for (const mode of modes) {
      const config = loadConfig({ file: `${series}.yaml`, env: {}, readFile: () => configYaml(mode, limitUsd) });
      const p = plan(scale);
      const res = await simulate({ config, pricer: buildPricer(config), requests: p.requests(), from: p.from, to: p.to });
      const inst = res.instances.find((i) => i.budget === 'daily');
      if (inst) rows.push({ series, mode, limitUsd, outcomes: inst.outcomes });
    }
  }
  return rows;
}

/** The table bench/forecast/run.ts prints. */
export function pacingTable(rows: readonly PacingRow[]): string {
  const lines = [
    `pacing outcomes: daily budget at ${100 * LIMIT_SHARE}% of the median day, days ${FROM_DAY}–${FROM_DAY + DAYS - 1} (simulate, billed as ${MODEL_AS})`,
    `  ${'series'.padEnd(22)} ${'limit'.padStart(11)}  ${'budget'.padEnd(17)} ${'used'.padStart(5)}  ${'held back / day'.padStart(15)}  out early`,
  ];
  for (const r of rows) {
    const o = r.outcomes;
    const held = o.windows > 0 ? o.heldBackMs / o.windows / 60_000 : 0;
    lines.push(
      `  ${r.series.padEnd(22)} ${`$${r.limitUsd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`.padStart(11)}  ${r.mode.padEnd(17)} ${(o.used === null ? '—' : `${Math.round(100 * o.used)}%`).padStart(5)}  ${`${Math.floor(held / 60)} h ${String(Math.round(held % 60)).padStart(2, '0')} min`.padStart(15)}  ${o.ranOutEarly} of ${o.windows}`,
    );
  }
  return lines.join('\n');
}
