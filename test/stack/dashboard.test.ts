/**
 * The committed dashboard, statically: it is what the generator produces (the --check), every
 * panel has a unit, the ${datasource} variable and a description naming its metrics, queries
 * use $__rate_interval / $__range and guard divisions; every metric a panel or rule names is
 * exported, and every exported family is on a panel or listed as deliberately not shown.
 * docs/observability.md lists every panel and every alert.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { dashboardJson } from '../../grafana/generate.ts';
import { DASHBOARD_UID, NOT_SHOWN } from '../../grafana/dashboard.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { DASHBOARD_PATH, ROOT, dataPanels, loadDashboard, metricNames, queryVariables, targets } from './dashboard-model.ts';

const d = loadDashboard();
const rules = parse(readFileSync(`${ROOT}prometheus/rules.yml`, 'utf8')) as {
  groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
};
const readme = readFileSync(`${ROOT}docs/observability.md`, 'utf8');

test('the committed dashboard JSON is what grafana/dashboard.ts generates (npm run dashboards)', () => {
  assert.ok(
    readFileSync(DASHBOARD_PATH, 'utf8') === dashboardJson(),
    'grafana/dashboards/claude-meter.json is stale: run npm run dashboards',
  );
  assert.equal(d.uid, DASHBOARD_UID);
});

test('every panel: ${datasource}, a unit, a description naming its metrics, inside the 24-column grid, unique ids', () => {
  const ds = d.templating.list.filter((v) => v.type === 'datasource');
  assert.equal(ds.length, 1);
  assert.equal(ds[0]!.name, 'datasource');
  for (const v of d.templating.list.filter((x) => x.type === 'query')) assert.equal(v.datasource?.uid, '${datasource}', v.name);
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dataPanels(d)) {
    assert.equal(p.datasource?.uid, '${datasource}', p.title);
    assert.ok(p.fieldConfig?.defaults?.unit, `${p.title}: no unit`);
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: past column 24`);
    assert.ok((p.targets ?? []).length > 0, `${p.title}: no query`);
    for (const t of p.targets ?? []) {
      assert.equal(t.datasource?.uid, '${datasource}', `${p.title} ${t.refId}`);
      for (const m of metricNames(t.expr)) {
        const family = m.replace(/_(bucket|sum|count)$/, '');
        assert.ok(p.description?.includes(family), `${p.title}: the description does not name ${family}`);
      }
    }
  }
});

/** The operand right of each ` / `: an optional on(...), an optional aggregation, then one parenthesised group. */
function divisors(expr: string): string[] {
  const out: string[] = [];
  for (let i = expr.indexOf(' / '); i !== -1; i = expr.indexOf(' / ', i + 1)) {
    let rest = expr
      .slice(i + 3)
      .replace(/^on \([^)]*\) /, '')
      .replace(/^(sum|max|min) by \([^)]*\) /, '');
    if (!rest.startsWith('(')) {
      out.push(rest);
      continue;
    }
    let depth = 0;
    let end = 0;
    for (; end < rest.length; end++) {
      if (rest[end] === '(') depth++;
      if (rest[end] === ')' && --depth === 0) break;
    }
    rest = rest.slice(0, end + 1);
    out.push(rest);
  }
  return out;
}

test('queries: $__rate_interval for rates, $__range for totals, divisions guarded with (x > 0)', () => {
  for (const t of targets(d)) {
    for (const [, window] of t.expr.matchAll(/\[([^\]]+)\]/g)) {
      assert.ok(window === '$__rate_interval' || window === '$__range', `${t.panel}: hard-coded window [${window}]`);
    }
    for (const div of divisors(t.expr)) assert.match(div, /> 0\)/, `${t.panel}: unguarded division by ${div}`);
  }
});

test('every metric the dashboard or the rules name is exported; every exported family is shown or deliberately not', async () => {
  const metrics = createMetrics({ keyLabel: false, tagLabel: true, defaultMetrics: true });
  const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
  const histograms = new Set((await metrics.registry.getMetricsAsJSON()).filter((m) => String(m.type) === 'histogram').map((m) => m.name));
  const family = (name: string): string => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return histograms.has(base) ? base : name;
  };
  const onDashboard = new Set(
    [...targets(d).map((t) => t.expr), ...queryVariables(d).map((v) => v.query)].flatMap(metricNames).map(family),
  );
  const inRules = new Set(
    rules.groups
      .flatMap((g) => g.rules)
      .flatMap((r) => metricNames(r.expr))
      .map(family),
  );
  for (const m of [...onDashboard, ...inRules]) assert.ok(exported.has(m), `${m} is queried but not exported`);
  const missing = [...exported].filter((m) => !onDashboard.has(m) && !NOT_SHOWN.some((n) => n.pattern.test(m)));
  assert.deepEqual(missing, [], 'exported families on no panel and not listed in NOT_SHOWN');
  assert.ok(
    [...exported].some((m) => NOT_SHOWN[0]!.pattern.test(m)),
    'NOT_SHOWN lists families that exist',
  );
});

test('docs/observability.md lists every panel and every alert rule', () => {
  const section = readme.slice(readme.indexOf('## Watching it'), readme.indexOf('\n## ', readme.indexOf('## Watching it') + 5));
  assert.ok(section.length > 100, 'docs/observability.md section "Watching it" exists');
  for (const p of dataPanels(d))
    assert.ok(section.includes(p.title.replace(': $budget', '')), `docs/observability.md does not list panel "${p.title}"`);
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    if (r.alert) assert.ok(section.includes(r.alert), `docs/observability.md does not list alert ${r.alert}`);
  }
});
