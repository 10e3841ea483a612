/**
 * `claude-meter simulate --series FILE --config FILE [...]`: replays a normalized trace
 * through the real admission, budget, pacing and forecasting code on a simulated clock (no
 * upstream) and reports, per budget instance and window, spend, when it was exhausted, and
 * how many requests were throttled or refused; plus an SVG chart. See src/simulate/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config/load.ts';
import { ConfigError } from '../config/errors.ts';
import { buildPricer } from '../pricing/build.ts';
import { PricingError } from '../pricing/errors.ts';
import { emptyUsage } from '../core/usage.ts';
import { currencySymbol } from '../core/money.ts';
import { DAY_MS, MINUTE_MS } from '../core/time.ts';
import { SeriesInputError } from '../forecast/eval/csv.ts';
import { DEFAULT_TOKENS, planRequests, type Plan } from '../simulate/requests.ts';
import { simulate, type InstanceResult, type SimResult } from '../simulate/run.ts';
import { renderSvg } from '../simulate/svg.ts';
import { timeLabel, windowLabel } from '../simulate/time.ts';
import { runCommand, UsageError, type CommandSpec, type Env, type Io, type Values } from './args.ts';

export const SIMULATE = {
  name: 'simulate',
  summary: 'replay a series through budgets and pacing on a simulated clock, with an SVG chart',
  options: {
    series: {
      type: 'string',
      value: 'FILE',
      required: true,
      description: 'the series: per-request or aggregated CSV, the forms of data/README.md',
    },
    config: {
      type: 'string',
      value: 'FILE',
      required: true,
      description: 'the config whose budgets, pricing and forecast settings are simulated',
    },
    model: { type: 'string', value: 'NAME', description: 'keep only rows with this model label (default: all rows)' },
    'model-as': {
      type: 'string',
      value: 'CLAUDE_MODEL',
      default: 'claude-sonnet-4-6',
      description: 'the model the requests are billed as',
    },
    from: {
      type: 'string',
      value: 'DAY',
      default: '0',
      description: "the first simulated day, 0 = the series' first; the days before it warm the forecaster",
    },
    days: { type: 'string', value: 'N', description: 'how many days to simulate (default: to the end of the series)' },
    scale: {
      type: 'string',
      value: 'F',
      description: 'keep this share of the requests, in (0, 1], each carrying the tokens of the ones it replaces',
    },
    tag: { type: 'string', value: 'TAG', default: 'sim', description: 'the tag every simulated request carries, for per_tag budgets' },
    speed: {
      type: 'string',
      value: 'N',
      description: 'at most N simulated seconds per wall-clock second, with hourly progress (default: as fast as possible)',
    },
    svg: { type: 'string', value: 'FILE', default: 'simulate.svg', description: 'where the chart is written' },
    json: { type: 'boolean', description: 'print JSON instead of tables' },
  },
} as const satisfies CommandSpec;

/** `env`: the process environment, read by main.ts, for the config's ${VAR} references. */
export function runSimulateCommand(argv: readonly string[], io: Io, env: Env): Promise<number> {
  return runCommand(SIMULATE, argv, io, async ({ values }) => {
    try {
      return await run(values, io, env);
    } catch (err) {
      if (!(err instanceof SeriesInputError || err instanceof ConfigError || err instanceof PricingError)) throw err;
      io.stderr.write(`claude-meter simulate: ${err.message}\n`);
      return 2;
    }
  });
}

async function run(flags: Values<(typeof SIMULATE)['options']>, io: Io, env: Env): Promise<number> {
  const seriesFile = flags.series;
  const config = loadConfig({ file: flags.config, env });
  const pricer = buildPricer(config);
  const modelAs = flags['model-as'];
  if (pricer.resolve(modelAs) === null)
    throw new UsageError(`--model-as '${modelAs}' is not in the price table (pricing.models can add it)`);
  let text: string;
  try {
    text = readFileSync(seriesFile, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --series ${seriesFile}: ${(err as Error).message}`);
  }
  const scale = number(flags.scale, 'scale', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const fromDay = number(flags.from, 'from', (v) => Number.isInteger(v) && v >= 0, 'a whole number of days >= 0');
  const days = number(flags.days, 'days', (v) => Number.isInteger(v) && v >= 1, 'a whole number of days >= 1');
  const speed = number(flags.speed, 'speed', (v) => v > 0, 'simulated seconds per wall-clock second, > 0');
  const model = flags.model;
  const plan = planRequests(text, {
    modelAs,
    historyDays: config.forecast.history_days,
    ...(model === undefined ? {} : { model }),
    ...(scale === undefined ? {} : { scale }),
    ...(fromDay === undefined ? {} : { fromDay }),
    ...(days === undefined ? {} : { days }),
    tag: flags.tag,
  });
  const probe = pricer.price(modelAs, { ...emptyUsage(), input: 1, output: 1 }, { at: plan.from, betas: [] });
  if (probe.unpriced)
    throw new UsageError(`--model-as '${modelAs}' has no price in force at the simulated time (${new Date(plan.from).toISOString()})`);

  const wallStart = performance.now();
  const res = await simulate({
    config,
    pricer,
    requests: plan.requests(),
    from: plan.from,
    to: plan.to,
    // --speed caps simulated time per wall second (to watch a run); without it: as fast as possible.
    ...(speed === undefined
      ? {}
      : {
          onHour: async (t: number, c: Pick<SimResult, 'requests' | 'admitted' | 'throttled' | 'refused'>) => {
            io.stderr.write(
              `${timeLabel(t, plan.day0)}: ${n(c.requests)} requests, ${n(c.admitted)} admitted, ${n(c.throttled)} throttled, ${n(c.refused)} refused\n`,
            );
            const ahead = (t - plan.from) / speed - (performance.now() - wallStart);
            if (ahead > 0) await sleep(ahead);
          },
        }),
  });

  const svgArg = flags.svg;
  const svgPath = resolve(svgArg);
  const title = `claude-meter simulate: ${basename(seriesFile)}${model === undefined ? '' : ` (${model})`}`;
  const subtitle = `billed as ${modelAs}, ${range(plan)}${plan.scale < 1 ? `, scale ${plan.scale}` : ''}: ${n(res.requests)} requests, ${n(res.admitted)} admitted, ${n(res.throttled)} throttled, ${n(res.refused)} refused`;
  try {
    writeFileSync(svgPath, renderSvg(res, { title, subtitle, day0: plan.day0 }));
  } catch (err) {
    throw new UsageError(`cannot write --svg ${svgPath}: ${(err as Error).message}`);
  }
  if (flags.json) {
    const doc = {
      series: resolve(seriesFile),
      model: model ?? null,
      model_as: modelAs,
      scale: plan.scale,
      source_requests: plan.sourceRequests,
      day0: plan.day0,
      svg: svgPath,
      ...res,
    };
    io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(report(res, plan, { series: seriesFile, model, modelAs, svgPath: svgArg }));
  return 0;
}

function report(res: SimResult, plan: Plan, o: { series: string; model: string | undefined; modelAs: string; svgPath: string }): string {
  const lines = [
    `simulated ${basename(o.series)}${o.model === undefined ? '' : `, model ${o.model}`}, billed as ${o.modelAs}: ${range(plan)}`,
  ];
  const perReq =
    plan.scale < 1 ? `; scale ${plan.scale}: each simulated request carries the tokens of ${+(1 / plan.scale).toFixed(1)}` : '';
  lines.push(
    `  series: ${n(plan.sourceRequests)} requests from ${timeLabel(plan.historyFrom, plan.day0)} to ${timeLabel(plan.to, plan.day0)}${perReq}${plan.defaultedTokens ? `; rows without token counts: ${n(DEFAULT_TOKENS.input)} in / ${n(DEFAULT_TOKENS.output)} out per request` : ''}`,
  );
  if (plan.historyFrom < plan.from)
    lines.push(
      `  history: the ${n(res.historyRequests)} requests before ${timeLabel(plan.from, plan.day0)} were settled without admission, so forecasts start warm`,
    );
  lines.push(
    `  ${n(res.requests)} simulated: ${n(res.admitted)} admitted${res.unbudgeted > 0 ? ` (${n(res.unbudgeted)} matched no budget)` : ''}, ${n(res.throttled)} throttled, ${n(res.refused)} refused`,
  );
  for (const inst of res.instances) lines.push('', ...instanceTable(inst, plan.day0));
  lines.push('', `chart: ${o.svgPath}`);
  return `${lines.join('\n')}\n`;
}

function instanceTable(inst: InstanceResult, day0: number): string[] {
  const currency = inst.currency;
  const fmt = (v: number | null) =>
    v === null
      ? '—'
      : currency === null
        ? n(Math.round(v))
        : `${currencySymbol(currency)}${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const who = inst.instance === '*' ? inst.scope : `${inst.scope} '${inst.instance}'`;
  const notes = [
    inst.action === 'shadow' ? 'shadow: "refused" = would have been' : '',
    inst.spikes > 0 ? `${inst.spikes} spike alert(s)` : '',
  ].filter(Boolean);
  const head = `budget '${inst.budget}' (${who}, ${inst.window} window, ${inst.action}, limit ${fmt(inst.limit)})${notes.length ? `: ${notes.join('; ')}` : ''}`;
  const rows = [
    [
      'window',
      'limit',
      'demand',
      'spent',
      '% of limit',
      'exhausted at',
      'admitted',
      'throttled',
      'refused',
      'delayed',
      'held back',
      'out early',
    ],
  ];
  for (const w of inst.windows) {
    rows.push([
      windowLabel(w, day0),
      fmt(w.limit),
      fmt(w.demand),
      fmt(w.spent),
      w.limit > 0 ? `${Math.round((100 * w.spent) / w.limit)}%` : '—',
      w.exhaustedAt === null ? '—' : timeLabel(w.exhaustedAt - (w.exhaustedAt % MINUTE_MS), day0),
      n(w.admitted),
      n(w.throttled),
      n(w.refused),
      n(w.delayed),
      duration(w.heldBackMs),
      w.ranOutEarly && w.exhaustedAt !== null ? `by ${duration(w.end - w.exhaustedAt)}` : '—',
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  // Text left, numbers right.
  const line = (row: string[]) =>
    row
      .map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const o = inst.outcomes;
  const of = `${o.windows} window${o.windows === 1 ? '' : 's'}`;
  const outcomes = `  outcomes: ${o.used === null ? '—' : `${Math.round(100 * o.used)}%`} of the limit used (mean of ${of}); held back while it had room: ${o.heldBackMs > 0 ? duration(o.heldBackMs) : 'never'}; ran out early: ${o.ranOutEarly} of ${of}`;
  return [head, ...rows.map((row) => `  ${line(row)}`), outcomes];
}

/** `—`, `45 min`, `3 h 05 min`. */
function duration(ms: number): string {
  if (ms <= 0) return '—';
  const m = Math.round(ms / MINUTE_MS);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

function range(plan: Plan): string {
  const days = Math.round((plan.to - plan.from) / DAY_MS);
  return `${timeLabel(plan.from, plan.day0)} to ${timeLabel(plan.to, plan.day0)} (${days} day${days === 1 ? '' : 's'})`;
}

function number(s: string | undefined, name: string, ok: (v: number) => boolean, what: string): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new UsageError(`--${name} must be ${what}, got '${s}'`);
  return v;
}

function n(v: number): string {
  return v.toLocaleString('en-US');
}
