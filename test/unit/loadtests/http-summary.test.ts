/**
 * bench:http's per-core ratio against the bare proxy (loadtests/http/
 * summary.ts): the issue asks for ratios of targets side by side in one run,
 * medians of 3, so each run's streammesh is set against that run's bare
 * proxy before the median is taken. The ratio of the two targets' medians,
 * which pairs different runs, is kept beside it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TargetName } from '../../../loadtests/http/endpoints.js';
import type { MaxStep } from '../../../loadtests/http/results.js';
import { summarize } from '../../../loadtests/http/summary.js';

function maxStep(
  run: number,
  target: TargetName,
  requestsPerSecond: number,
  cores: number,
): MaxStep {
  return {
    run,
    protocol: 'http1',
    target,
    tool: 'wrk',
    requestsPerSecond,
    requests: requestsPerSecond * 4,
    failed: 0,
    cpu: { proxy: cores, backend: 0.1, machineBusy: 1.4 },
    quietWaitMs: 0,
    notes: [],
  };
}

describe('bench:http per-core ratio against the bare proxy', () => {
  // Per core: streammesh 9,000 / 6,000 / 8,000; bare 10,000 / 12,000 / 9,000.
  const steps = [
    maxStep(0, 'streammesh', 9_000, 1),
    maxStep(0, 'bare-node', 10_000, 1),
    maxStep(1, 'streammesh', 6_000, 1),
    maxStep(1, 'bare-node', 12_000, 1),
    maxStep(2, 'streammesh', 8_000, 1),
    maxStep(2, 'bare-node', 9_000, 1),
  ];
  const { comparison } = summarize(['http1'], ['bare-node', 'streammesh'], steps, []);
  const http1 = comparison.http1;

  it("is the median of each run's ratio, both measured in that run", () => {
    assert.ok(http1 !== undefined);
    assert.deepEqual(http1.perCoreVsBareNodeByRun, [0.9, 0.5, 0.889]);
    assert.equal(http1.perCoreVsBareNode, 0.889);
    assert.equal(http1.aims.perCoreAtLeast09xBareNode, false);
  });

  it('keeps the ratio of the two medians beside it (8,000 / 10,000)', () => {
    assert.equal(http1?.perCoreVsBareNodeOfMedians, 0.8);
  });

  it('leaves out a run where one of the two was not measured', () => {
    const partial = summarize(['http1'], ['bare-node', 'streammesh'], steps.slice(0, 5), []);
    const compared = partial.comparison.http1;
    assert.ok(compared !== undefined);
    assert.deepEqual(compared.perCoreVsBareNodeByRun, [0.9, 0.5]);
    assert.equal(compared.perCoreVsBareNode, 0.7);
  });
});
