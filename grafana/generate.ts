/**
 * `npm run dashboards`: writes grafana/dashboards/claude-meter.json from grafana/dashboard.ts.
 * `npm run dashboards -- --check`: exits 1 if the committed file differs (CI runs the same check as a test).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildDashboard } from './dashboard.ts';

export const DASHBOARD_FILE = fileURLToPath(new URL('./dashboards/claude-meter.json', import.meta.url));

export function dashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const json = dashboardJson();
  if (process.argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(DASHBOARD_FILE, 'utf8');
    } catch {
      // missing counts as different
    }
    if (committed !== json) {
      process.stderr.write(`${DASHBOARD_FILE} is not what grafana/dashboard.ts generates: run npm run dashboards\n`);
      process.exit(1);
    }
    process.stdout.write('dashboard JSON is current\n');
  } else {
    writeFileSync(DASHBOARD_FILE, json);
    process.stdout.write(`wrote ${DASHBOARD_FILE}\n`);
  }
}
