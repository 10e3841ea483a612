/**
 * The committed dashboard JSON as the tests read it: its query targets, its variables, and
 * Grafana's interpolation of macros and variables (as the Prometheus data source does it).
 * Shared by dashboard.test.ts and prometheus.test.ts; not a test file itself.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DASHBOARD_PATH = `${ROOT}grafana/dashboards/claude-meter.json`;

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Array<{ refId: string; expr: string; datasource?: { uid: string } }>;
}

export interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ type: string; name: string; query?: string; allValue?: string; datasource?: { uid: string } }> };
}

export interface Target {
  panel: string;
  refId: string;
  expr: string;
  /** The panel's description says its queries may be empty in a healthy system: they are only checked to parse. */
  emptyOk: boolean;
}

export const EMPTY_OK = /empty in a healthy system/i;

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
}

export function dataPanels(d: Dashboard): Panel[] {
  return d.panels.filter((p) => p.type !== 'row');
}

export function targets(d: Dashboard): Target[] {
  return dataPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr, emptyOk: EMPTY_OK.test(p.description ?? '') })),
  );
}

export function queryVariables(d: Dashboard): Array<{ name: string; query: string; allValue: string | null }> {
  return d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ name: v.name, query: v.query ?? '', allValue: v.allValue ?? null }));
}

/** Grafana's built-in macros as the tests substitute them (scrape interval 1 s; traffic in the last minutes). */
export const MACROS: Record<string, string> = { __rate_interval: '1m', __interval: '15s', __range: '10m' };

/** Multi-value and All selections: each value regex-escaped as Grafana's Prometheus data source does. */
export function regexAlternation(values: string[]): string {
  return `(${values.map((v) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&')).join('|')})`;
}

/** Replaces $name, ${name} and [[name]]; an unknown name throws (a typo in a panel). */
export function interpolate(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g, (_, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    const v = MACROS[name] ?? values[name];
    if (v === undefined) throw new Error(`unknown variable $${name} in: ${expr}`);
    return v;
  });
}

/** claude_meter_ metric names an expression reads (recording-rule names have a colon and are not matched). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\bclaude_meter_[a-z0-9_]+\b/g) ?? [])];
}

/** label_values(<selector>, <label>) → [selector, label]. */
export function parseLabelValues(query: string): [string, string] {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
  if (!m) throw new Error(`not a label_values query: ${query}`);
  return [m[1]!, m[2]!];
}
