import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoWorkers, cgroupCpuLimit, parseWorkers } from '../../../src/workers/cores.ts';

const none = { cpuMax: null, cfsQuotaUs: null, cfsPeriodUs: null };

test('cgroup v2 cpu.max: a quota is CPUs of time per period; "max" is no quota', () => {
  assert.equal(cgroupCpuLimit({ ...none, cpuMax: 'max 100000\n' }), null);
  assert.equal(cgroupCpuLimit({ ...none, cpuMax: '200000 100000\n' }), 2);
  assert.equal(cgroupCpuLimit({ ...none, cpuMax: '150000 100000' }), 1.5);
  assert.equal(cgroupCpuLimit({ ...none, cpuMax: '50000 100000' }), 0.5);
  assert.equal(cgroupCpuLimit({ ...none, cpuMax: 'garbage' }), null);
  // v2 wins over v1 where both are mounted (a hybrid host)
  assert.equal(cgroupCpuLimit({ cpuMax: '400000 100000', cfsQuotaUs: '100000', cfsPeriodUs: '100000' }), 4);
});

test('cgroup v1: cfs_quota_us / cfs_period_us; -1 is no quota; no files is no quota', () => {
  assert.equal(cgroupCpuLimit({ ...none, cfsQuotaUs: '300000\n', cfsPeriodUs: '100000\n' }), 3);
  assert.equal(cgroupCpuLimit({ ...none, cfsQuotaUs: '-1\n', cfsPeriodUs: '100000\n' }), null);
  assert.equal(cgroupCpuLimit({ ...none, cfsQuotaUs: '300000', cfsPeriodUs: null }), null);
  assert.equal(cgroupCpuLimit(none), null);
});

test('auto: the available CPUs capped by the quota rounded down, at least one', () => {
  assert.equal(autoWorkers(16, null), 16);
  assert.equal(autoWorkers(16, 2), 2);
  assert.equal(autoWorkers(16, 1.5), 1);
  assert.equal(autoWorkers(16, 0.5), 1);
  assert.equal(autoWorkers(2, 8), 2, 'a quota above the CPUs this process may run on adds nothing');
  assert.equal(autoWorkers(1, null), 1);
});

test('--workers: 1..256 or auto (0 is auto, as in listen.workers); anything else is refused', () => {
  assert.equal(parseWorkers('2'), 2);
  assert.equal(parseWorkers(' 1 '), 1);
  assert.equal(parseWorkers('auto'), 'auto');
  assert.equal(parseWorkers('0'), 'auto');
  for (const bad of ['-1', '257', '1.5', 'two', '', '2x']) assert.equal(parseWorkers(bad), null, bad);
});
