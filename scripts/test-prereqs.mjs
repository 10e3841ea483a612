#!/usr/bin/env node
/**
 * First step of `npm test`: the programs the tests start for real (redis-server and
 * redis-cli for the Redis and Cluster tests, prometheus and promtool for the dashboard and
 * rules, chromium for the status page). No test is skipped for lack of one, so a missing
 * program is found here, in a second, not as six failures after ten minutes.
 *
 * On Debian as root (a CI machine, a fresh container) it installs what is missing with
 * apt-get, as .ci/run does. Anywhere else it stops before any test runs, with one line
 * naming what to install. CLAUDE_METER_TEST_NO_INSTALL=1 stops instead of installing.
 * CHROMIUM_PATH names another Chromium (the status-page test honours it too).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** program → the Debian package that provides it. */
const NEEDS = [
  ['redis-server', 'redis-server'],
  ['redis-cli', 'redis-tools'],
  ['prometheus', 'prometheus'],
  ['promtool', 'prometheus'],
  ['chromium', 'chromium'],
];

function found(program) {
  if (program === 'chromium' && process.env.CHROMIUM_PATH) return existsSync(process.env.CHROMIUM_PATH);
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

const missing = () => NEEDS.filter(([program]) => !found(program));
const packages = (list) => [...new Set(list.map(([, pkg]) => pkg))];

let absent = missing();
if (absent.length === 0) process.exit(0);

const debianRoot = existsSync('/etc/debian_version') && process.getuid?.() === 0 && process.env.CLAUDE_METER_TEST_NO_INSTALL !== '1';
if (debianRoot) {
  const pkgs = packages(absent);
  console.error(`test prerequisites: installing ${pkgs.join(' ')} from apt`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const install =
    update.status === 0 && spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: ['ignore', 'ignore', 'inherit'], env });
  absent = missing();
  if (install && install.status === 0 && absent.length === 0) process.exit(0);
}

const names = absent.map(([program]) => program).join(', ');
console.error(
  `npm test needs ${names} on PATH and runs no test without them: install ${packages(absent).join(' ')} ` +
    `(Debian/Ubuntu: apt-get install ${packages(absent).join(' ')}; running npm test as root on Debian installs them)`,
);
process.exit(1);
