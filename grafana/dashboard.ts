/**
 * The claude-meter dashboard, built with the Grafana Foundation SDK's typed builders.
 * `npm run dashboards` writes grafana/dashboards/claude-meter.json from this; a test checks
 * that the committed file equals the output (grafana/generate.ts --check does the same).
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { panelId, queryVariable, resetIds } from './lib.ts';
import { budgetsRow } from './rows/budgets.ts';
import { spendRow, tokensRow } from './rows/spend.ts';
import { dataQualityRow, latencyRow, reliabilityRow } from './rows/operations.ts';

export const DASHBOARD_UID = 'claude-meter';

/** Exported families no panel shows, and why (the metrics test requires every other family on a panel). */
export const NOT_SHOWN: Array<{ pattern: RegExp; why: string }> = [
  {
    pattern: /^claude_meter_(process|nodejs)_/,
    why: 'Node.js runtime metrics (CPU, memory, event loop, GC): any Node.js dashboard shows them',
  },
  {
    pattern: /^claude_meter_budget_(spent|reserved|limit|overshoot|projected)_usd$|^claude_meter_budget_settled_usd_total$/,
    why: 'the USD-only budget families, kept for dashboards built on them: the panels show the same amounts of every budget with a currency label',
  },
];

const T = 'job=~"$job", instance=~"$instance"';

export function buildDashboard(): dashboard.Dashboard {
  resetIds();
  const d = new dashboard.DashboardBuilder('claude-meter')
    .uid(DASHBOARD_UID)
    .description(
      'Budgets, spend, tokens and cache, latency, reliability and data quality of claude-meter, the metering proxy for the Claude API.',
    )
    .tags(['claude-meter', 'llm', 'budgets'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .withVariable(new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(
      queryVariable('job', 'Job', 'label_values(claude_meter_store_up, job)', {
        description: 'Scrape jobs that export claude-meter metrics',
      }),
    )
    .withVariable(
      queryVariable('instance', 'Proxy', 'label_values(claude_meter_store_up{job=~"$job"}, instance)', {
        description: 'claude-meter processes (scrape targets)',
      }),
    )
    .withVariable(
      queryVariable('currency', 'Currency', `label_values(claude_meter_budget_spent{${T}}, currency)`, {
        allValue: '.*',
        description:
          "The currencies budgets count in (ISO 4217; a limit_usd budget's is USD): budget amounts are in their budget's currency",
      }),
    )
    .withVariable(
      // No allValue: "All" is every budget listed, i.e. those in the chosen currencies, so panels without a currency label follow it too.
      queryVariable('budget', 'Budget', `label_values(claude_meter_budget_spent{${T}, currency=~"$currency"}, budget)`, {
        description: 'Budget names from the config, of the chosen currencies',
      }),
    )
    .withVariable(
      queryVariable(
        'budget_instance',
        'Budget instance',
        `label_values(claude_meter_budget_spent{${T}, currency=~"$currency", budget=~"$budget"}, budget_instance)`,
        {
          allValue: '.*',
          description: "A budget's scope value: * for global, else the key id, tag or model (the budget metrics' budget_instance label)",
        },
      ),
    )
    .withVariable(
      queryVariable('model', 'Model', `label_values(claude_meter_requests_total{${T}}, model)`, {
        allValue: '.*',
        description: 'Billed model ids',
      }),
    )
    .withVariable(
      queryVariable('tag', 'Tag', `label_values(claude_meter_requests_total{${T}}, tag)`, {
        allValue: '.*',
        description: 'x-meter-tag values; requests_total carries a tag label only with metrics.tag_label: true',
      }),
    );
  const rows: Array<[string, () => ReturnType<typeof budgetsRow>]> = [
    ['Budgets', budgetsRow],
    ['Spend', spendRow],
    ['Tokens and cache', tokensRow],
    ['Latency', latencyRow],
    ['Reliability', reliabilityRow],
    ['Data quality', dataQualityRow],
  ];
  for (const [title, panels] of rows) {
    d.withRow(new dashboard.RowBuilder(title).id(panelId()));
    for (const p of panels()) d.withPanel(p);
  }
  return d.build();
}
