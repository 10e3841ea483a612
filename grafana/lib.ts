/**
 * Panel helpers over the Grafana Foundation SDK's typed builders: every panel gets the
 * ${datasource} variable, a unit, a description and refIds A, B, …, so the rows only say
 * what a panel shows. Conventions the tests check on the generated JSON (test/stack/):
 *  - a description names every claude_meter_ metric the panel queries;
 *  - "Empty in a healthy system" in a description marks a panel whose queries may return
 *    nothing while all is well (they are then only checked to parse);
 *  - rates use $__rate_interval, totals $__range, and divisions are guarded with `/ (x > 0)`.
 * The SDK lays panels out left to right and wraps only once a line is full, so each row's
 * widths add up to 24 per line.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { CURRENCY_SYMBOLS } from '../src/core/money.ts';

/** Works provisioned (the default data source) and imported (the user picks one). */
export const DS: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** Label matchers every query carries: `job` and `instance` are Prometheus's scrape target labels. */
export const T = 'job=~"$job", instance=~"$instance"';
export const M = `${T}, model=~"$model"`;
export const B = `${T}, budget=~"$budget", budget_instance=~"$budget_instance"`;
export const BY_B = 'budget, budget_instance';
/** Budget amounts carry the budget's `currency` label: money queries match and keep it. */
export const BC = `${B}, currency=~"$currency"`;
export const BY_BC = 'budget, budget_instance, currency';

/**
 * A money series' legend starts with its currency code (`CNY * spent`); these overrides give
 * each code Grafana's unit with the symbol the proxy prints (src/core/money.ts). A code without
 * a symbol there shows the panel's plain unit, its code still in the legend.
 */
export const CURRENCY_CODES = Object.keys(CURRENCY_SYMBOLS);

export function currencyUnits(): Array<[string, dashboard.DynamicConfigValue[]]> {
  const builtIn: Record<string, string> = { USD: 'currencyUSD', EUR: 'currencyEUR', GBP: 'currencyGBP' };
  return Object.entries(CURRENCY_SYMBOLS).map(([code, symbol]) => [
    `/^${code} /`,
    [{ id: 'unit', value: builtIn[code] ?? `currency:${symbol}` }],
  ]);
}

export interface Query {
  expr: string;
  legend?: string;
  /** Instant query (stats and tables over $__range). */
  instant?: boolean;
  format?: 'table' | 'heatmap';
}

/** What every panel says about itself. */
export interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** Grid width (of 24) and height. */
  w?: number;
  h?: number;
}

type AnyPanel = timeseries.PanelBuilder | stat.PanelBuilder | bargauge.PanelBuilder | heatmap.PanelBuilder | table.PanelBuilder;

let nextId = 1;
/** Panel ids are assigned in build order, so the JSON is stable. */
export function resetIds(): void {
  nextId = 1;
}
export function panelId(): number {
  return nextId++;
}

function target(q: Query, i: number): prometheus.DataqueryBuilder {
  const t = new prometheus.DataqueryBuilder()
    .expr(q.expr)
    .refId(String.fromCharCode(65 + i))
    .datasource(DS)
    .editorMode(prometheus.QueryEditorMode.Code);
  t.legendFormat(q.legend ?? '__auto');
  if (q.instant) t.instant();
  else t.range();
  if (q.format === 'table') t.format(prometheus.PromQueryFormat.Table);
  if (q.format === 'heatmap') t.format(prometheus.PromQueryFormat.Heatmap);
  return t;
}

function common_<P extends AnyPanel>(p: P, s: PanelSpec, w: number, h: number): P {
  p.id(panelId())
    .title(s.title)
    .description(s.description)
    .datasource(DS)
    .unit(s.unit)
    .span(s.w ?? w)
    .height(s.h ?? h);
  for (const [i, q] of s.queries.entries()) p.withTarget(target(q, i));
  return p;
}

export function thresholds(steps: Array<[number | null, string]>): cog.Builder<dashboard.ThresholdsConfig> {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })));
}

const GREEN_ONLY = thresholds([[null, 'green']]);

/** Field overrides for timeseries series: a dashed line without fill (limits, projections). */
export const DASHED: dashboard.DynamicConfigValue[] = [
  { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
  { id: 'custom.fillOpacity', value: 0 },
];

export function color(c: string): dashboard.DynamicConfigValue {
  return { id: 'color', value: { mode: 'fixed', fixedColor: c } };
}

export interface SeriesStyle {
  stack?: boolean;
  /** Threshold lines drawn across the graph. */
  lines?: Array<[number | null, string]>;
  min?: number;
  max?: number;
  /** Overrides by series-name regexp or exact name: [matcher, properties]. */
  byRegex?: Array<[string, dashboard.DynamicConfigValue[]]>;
  byName?: Array<[string, dashboard.DynamicConfigValue[]]>;
}

export function ts(s: PanelSpec, style: SeriesStyle = {}): timeseries.PanelBuilder {
  const p = common_(new timeseries.PanelBuilder(), s, 12, 8)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .calcs([]),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending))
    .lineWidth(1)
    .fillOpacity(style.stack ? 60 : 10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false);
  if (style.min !== undefined) p.min(style.min);
  if (style.max !== undefined) p.max(style.max);
  if (style.stack) p.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (style.lines) {
    p.thresholds(thresholds(style.lines)).thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
  } else p.thresholds(GREEN_ONLY);
  for (const [re, props] of style.byRegex ?? []) p.overrideByRegexp(re, props);
  for (const [name, props] of style.byName ?? []) p.overrideByName(name, props);
  return p;
}

export function statPanel(
  s: PanelSpec,
  opts: {
    steps?: Array<[number | null, string]>;
    noValue?: string;
    mappings?: dashboard.ValueMapping[];
    byRegex?: Array<[string, dashboard.DynamicConfigValue[]]>;
  } = {},
): stat.PanelBuilder {
  const p = common_(new stat.PanelBuilder(), s, 6, 8)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .graphMode(common.BigValueGraphMode.None)
    .colorMode(common.BigValueColorMode.Value)
    .textMode(common.BigValueTextMode.ValueAndName)
    .thresholds(opts.steps ? thresholds(opts.steps) : GREEN_ONLY);
  if (opts.noValue !== undefined) p.noValue(opts.noValue);
  if (opts.mappings) p.mappings(opts.mappings);
  for (const [re, props] of opts.byRegex ?? []) p.overrideByRegexp(re, props);
  return p;
}

export function barGauge(s: PanelSpec, steps: Array<[number | null, string]>, range: { min: number; max: number }): bargauge.PanelBuilder {
  return common_(new bargauge.PanelBuilder(), s, 6, 9)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .displayMode(common.BarGaugeDisplayMode.Gradient)
    .orientation(common.VizOrientation.Horizontal)
    .min(range.min)
    .max(range.max)
    .thresholds(thresholds(steps));
}

/** Histogram buckets as Prometheus stores them: the increase per `le`, not re-bucketed by Grafana. */
export function heatmapPanel(s: PanelSpec): heatmap.PanelBuilder {
  return common_(new heatmap.PanelBuilder(), s, 12, 8)
    .calculate(false)
    .yAxis(new heatmap.YAxisConfigBuilder().unit(s.unit))
    .cellValues(new heatmap.CellValuesBuilder().unit('short'))
    .color(new heatmap.HeatmapColorOptionsBuilder().mode(heatmap.HeatmapColorMode.Scheme).scheme('Oranges').steps(64))
    .showValue(common.VisibilityMode.Never);
}

/** Instant table queries over $__range merged into one row per model; `columns` renames Value #A… and sets units. */
export function tablePanel(s: PanelSpec, key: string, columns: Array<{ name: string; unit: string }>): table.PanelBuilder {
  const rename: Record<string, string> = {};
  for (const [i, c] of columns.entries()) rename[`Value #${String.fromCharCode(65 + i)}`] = c.name;
  const p = common_(new table.PanelBuilder(), s, 24, 8)
    .transformations([
      { id: 'merge', options: {} },
      { id: 'organize', options: { excludeByName: { Time: true }, renameByName: rename, indexByName: { [key]: 0 } } },
    ])
    .thresholds(GREEN_ONLY)
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(columns[1]?.name ?? key).desc(true)]);
  for (const c of columns) p.overrideByName(c.name, [{ id: 'unit', value: c.unit }]);
  return p;
}

export function queryVariable(
  name: string,
  label: string,
  query: string,
  opts: { allValue?: string; description: string },
): dashboard.QueryVariableBuilder {
  const v = new dashboard.QueryVariableBuilder(name)
    .label(label)
    .description(opts.description)
    .query(query)
    .definition(query)
    .datasource(DS)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .current({ selected: true, text: ['All'], value: ['$__all'] });
  // Without an allValue, "All" expands to the listed values (job, instance: only our targets).
  if (opts.allValue !== undefined) v.allValue(opts.allValue);
  return v;
}
