/**
 * The container stack without a Docker engine: the Dockerfile's invariants (multi-stage, the
 * runtime stage on Node 20 with production dependencies only, non-root, a HEALTHCHECK, no
 * install at start), every file it COPYs exists and is in the build context, and
 * docker-compose.yml wires Redis (append-only), Prometheus (our config and rules), and Grafana
 * (provisioned data source and dashboards, home dashboard) to files that exist.
 * `docker-compose config -q` itself runs in .ci/run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ROOT } from './dashboard-model.ts';
import { DEFAULTS } from '../../src/config/defaults.ts';

const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
/** Instructions with continuation lines joined, comments dropped. */
const lines = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const stages: string[][] = [];
for (const l of lines) {
  if (/^FROM /i.test(l)) stages.push([]);
  stages.at(-1)?.push(l);
}
const runtime = stages.at(-1) ?? [];

test('Dockerfile: multi-stage; the runtime stage is Node 20, production deps only, non-root, with a HEALTHCHECK', () => {
  assert.ok(stages.length >= 2, 'at least a build and a runtime stage');
  assert.match(runtime[0]!, /^FROM node:24[-.\w]*(\s+AS\s+\w+)?$/i);
  assert.ok(
    stages[0]!.some((l) => /^RUN npm run build/.test(l)),
    'the build stage runs npm run build',
  );
  const install = runtime.filter((l) => /^RUN .*npm (ci|install)/.test(l));
  assert.equal(install.length, 1);
  assert.match(install[0]!, /npm ci --omit=dev --ignore-scripts/);
  assert.ok(
    runtime.some((l) => /^COPY --from=build \/app\/dist /.test(l)),
    'the runtime stage gets the built bundle',
  );
  assert.ok(!runtime.some((l) => /^COPY (\S+\s+)*src\b/.test(l)), 'no src/ in the runtime image: bin/ then runs the bundle');
  const user = runtime.findLast((l) => /^USER /.test(l));
  assert.ok(user && !/^USER (root|0)\b/.test(user), 'runs as a non-root user');
  assert.ok(
    runtime.some((l) => /^HEALTHCHECK .*\/_meter\/health/.test(l)),
    'HEALTHCHECK on /_meter/health',
  );
  const cmd = runtime.findLast((l) => /^(CMD|ENTRYPOINT) /.test(l))!;
  assert.match(cmd, /bin\/claude-meter\.js", "start"/);
  assert.doesNotMatch(cmd, /npm/, 'nothing is installed at container start');
});

test('Dockerfile: every COPY source exists and is not excluded by .dockerignore', () => {
  const ignored = readFileSync(`${ROOT}.dockerignore`, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const sources = lines.filter((l) => /^COPY /.test(l) && !/--from=/.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1));
  assert.ok(sources.length >= 5);
  for (const s of sources) {
    assert.ok(existsSync(`${ROOT}${s}`), `COPY ${s}: no such file`);
    assert.ok(!ignored.includes(s) && !ignored.includes(s.split('/')[0]!), `COPY ${s}: excluded by .dockerignore`);
  }
  // What the bundle reads at run time (scripts/build.mjs copies it into dist/).
  assert.match(readFileSync(`${ROOT}scripts/build.mjs`, 'utf8'), /ASSETS = \['src\/pricing\/prices\.yaml'\]/);
});

interface Service {
  build?: string;
  image?: string;
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  stop_grace_period?: string;
}

test('docker-compose.yml: the proxy image, Redis append-only, Prometheus with our config and rules, Grafana provisioned', () => {
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as { services: Record<string, Service> };
  const { meter, redis, prometheus, grafana } = compose.services;
  assert.equal(meter?.build, '.');
  assert.equal(meter?.command, undefined, 'the image CMD runs the proxy; no npm at start');
  assert.deepEqual(meter?.ports, ['8080:8080']);
  // The grace before SIGKILL covers the drain, with time left to write the records.
  const grace = /^(\d+)s$/.exec(meter?.stop_grace_period ?? '');
  assert.ok(grace, `stop_grace_period in seconds, got ${meter?.stop_grace_period}`);
  assert.ok(Number(grace[1]) * 1000 >= DEFAULTS.listen.drain_timeout_ms + 2_000, 'the drain deadline plus 2 s to flush');
  assert.ok(redis?.command?.join(' ').includes('--appendonly yes'));
  assert.ok(redis?.volumes?.some((v) => v.endsWith(':/data')));
  const mounts = (s: Service | undefined): Array<[string, string]> =>
    (s?.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => v.split(':') as [string, string]);
  for (const [host] of [...mounts(prometheus), ...mounts(grafana)])
    assert.ok(existsSync(`${ROOT}${host.slice(2)}`), `${host} is mounted but missing`);
  const promMounts = new Map(mounts(prometheus));
  assert.equal(promMounts.get('./prometheus/prometheus.yml'), '/etc/prometheus/prometheus.yml');
  // rule_files are relative to the config file: rules.yml must sit beside it in the container.
  const promConfig = parse(readFileSync(`${ROOT}prometheus/prometheus.yml`, 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{ scrape_interval?: string; static_configs: Array<{ targets: string[] }> }>;
  };
  for (const f of promConfig.rule_files) assert.equal(promMounts.get(`./prometheus/${f}`), `/etc/prometheus/${f}`);
  assert.deepEqual(promConfig.scrape_configs[0]?.static_configs[0]?.targets, ['meter:8080']);
  assert.ok(Number.parseInt(promConfig.scrape_configs[0]?.scrape_interval ?? '99', 10) <= 15, 'scrape interval of 15 s or less');

  const grafMounts = new Map(mounts(grafana));
  assert.equal(grafMounts.get('./grafana/provisioning'), '/etc/grafana/provisioning');
  const dashboardsDir = grafMounts.get('./grafana/dashboards')!;
  const home = grafana?.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'] ?? '';
  assert.ok(
    home.startsWith(`${dashboardsDir}/`) && existsSync(`${ROOT}grafana/dashboards/${home.slice(dashboardsDir.length + 1)}`),
    `home dashboard ${home}`,
  );
  const provider = parse(readFileSync(`${ROOT}grafana/provisioning/dashboards/claude-meter.yml`, 'utf8')) as {
    providers: Array<{ options: { path: string } }>;
  };
  assert.equal(provider.providers[0]?.options.path, dashboardsDir);
  const ds = parse(readFileSync(`${ROOT}grafana/provisioning/datasources/prometheus.yml`, 'utf8')) as {
    datasources: Array<{ uid: string; url: string; isDefault: boolean }>;
  };
  assert.deepEqual(
    [ds.datasources[0]?.uid, ds.datasources[0]?.url, ds.datasources[0]?.isDefault],
    ['claude-meter-prometheus', 'http://prometheus:9090', true],
  );
});
