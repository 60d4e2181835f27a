import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoundRobin, type Endpoint } from '../../../rtp-proxy/l7/cluster/balancers.js';
import {
  OutlierDetector,
  outcomeOf,
  type Ejection,
  type OutlierOptions,
} from '../../../rtp-proxy/l7/cluster/outlier.js';

function setup(
  size: number,
  overrides: Partial<OutlierOptions> = {},
): { detector: OutlierDetector; list: Endpoint[]; advance: (ms: number) => void } {
  let time = 1_000;
  const detector = new OutlierDetector({
    consecutiveErrors: 5,
    consecutiveGatewayErrors: 3,
    baseEjectionMs: 30_000,
    maxEjectionMs: 300_000,
    maxEjectionPercent: 50,
    clock: { now: () => time },
    ...overrides,
  });
  const list = Array.from({ length: size }, (_, i) => ({ id: `ep${i}`, activeRequests: 0 }));
  detector.setEndpoints(list.map((e) => e.id));
  return { detector, list, advance: (ms) => (time += ms) };
}

function fail(detector: OutlierDetector, id: string, times: number, status = 500): void {
  for (let i = 0; i < times; i += 1) detector.record(id, outcomeOf(status));
}

describe('OutlierDetector', () => {
  it('classifies statuses', () => {
    assert.equal(outcomeOf(200), 'success');
    assert.equal(outcomeOf(404), 'success');
    assert.equal(outcomeOf(500), 'server-error');
    assert.equal(outcomeOf(503), 'gateway-error');
  });

  it('ejects after consecutive 5xx; an ejected endpoint gets no traffic and returns after its time', () => {
    const { detector, list, advance } = setup(4);
    fail(detector, 'ep1', 4);
    detector.record('ep1', 'success');
    fail(detector, 'ep1', 4);
    assert.equal(detector.isEjected('ep1'), false, 'a success in between resets the count');
    fail(detector, 'ep1', 1);
    assert.equal(detector.isEjected('ep1'), true);
    const balancer = new RoundRobin();
    for (let i = 0; i < 100; i += 1)
      assert.notEqual(balancer.pick(list, { available: detector.available })?.id, 'ep1');
    advance(29_999);
    assert.equal(detector.isEjected('ep1'), true);
    advance(1);
    assert.equal(detector.isEjected('ep1'), false);
    const picked = new Set(
      Array.from({ length: 4 }, () => balancer.pick(list, { available: detector.available })?.id),
    );
    assert.ok(picked.has('ep1'), 'back in rotation');
    fail(detector, 'ep1', 4);
    assert.equal(detector.isEjected('ep1'), false, 'error count restarted on return');
  });

  it('ejects sooner on consecutive gateway errors', () => {
    const { detector } = setup(4);
    fail(detector, 'ep0', 3, 502);
    assert.equal(detector.isEjected('ep0'), true);
    fail(detector, 'ep2', 2, 504);
    fail(detector, 'ep2', 1, 500);
    assert.equal(detector.isEjected('ep2'), false, 'a plain 5xx breaks the gateway-error run');
  });

  it('ejects for longer each time, up to the maximum', () => {
    const { detector, advance } = setup(2, { maxEjectionMs: 70_000 });
    const ejectionLength = (): number => {
      fail(detector, 'ep0', 5);
      assert.equal(detector.isEjected('ep0'), true);
      let waited = 0;
      while (detector.isEjected('ep0')) {
        advance(1_000);
        waited += 1_000;
      }
      return waited;
    };
    assert.deepEqual(
      [ejectionLength(), ejectionLength(), ejectionLength()],
      [30_000, 60_000, 70_000],
    );
  });

  it('never ejects more than maxEjectionPercent of the cluster, and ejects the next once room frees', () => {
    const { detector, advance } = setup(10, { maxEjectionPercent: 20 });
    for (let i = 0; i < 10; i += 1) fail(detector, `ep${i}`, 5);
    assert.equal(detector.ejectedCount, 2);
    assert.equal(detector.refusedEjections, 8);
    for (let i = 0; i < 10; i += 1) fail(detector, `ep${i}`, 1);
    assert.equal(detector.ejectedCount, 2, 'still capped while the errors go on');
    advance(30_000);
    assert.equal(detector.ejectedCount, 0);
    fail(detector, 'ep9', 1);
    assert.equal(detector.isEjected('ep9'), true, 'its error count was kept while refused');
  });

  it('ignores results for endpoints not in the cluster and forgets removed ones', () => {
    const { detector } = setup(2);
    fail(detector, 'stranger', 10);
    assert.equal(detector.isEjected('stranger'), false);
    fail(detector, 'ep0', 5);
    assert.equal(detector.isEjected('ep0'), true);
    detector.setEndpoints(['ep1', 'ep2']);
    assert.equal(detector.isEjected('ep0'), false);
    assert.equal(detector.ejectedCount, 0);
  });

  it('tells onEjected what it ejected, and only that: not an adopted ejection, not a refused one', () => {
    const told: [string, Ejection][] = [];
    const { detector, advance } = setup(4, {
      onEjected: (id, ejection) => told.push([id, ejection]),
    });
    fail(detector, 'ep1', 5);
    assert.deepEqual(told, [['ep1', { until: 31_000, ejections: 1 }]]);
    detector.adopt('ep2', { until: 20_000, ejections: 1 });
    fail(detector, 'ep3', 5);
    assert.equal(detector.refusedEjections, 1, 'ep3 over the 50% cap');
    assert.equal(told.length, 1);
    advance(30_000);
    fail(detector, 'ep1', 5);
    assert.deepEqual(
      told[1],
      ['ep1', { until: 91_000, ejections: 2 }],
      'the second lasts twice as long',
    );
  });

  it("adopts another detector's ejection until its end, with its count, whatever its own count", () => {
    const { detector, advance } = setup(4);
    fail(detector, 'ep1', 2);
    detector.adopt('ep1', { until: 61_000, ejections: 2 });
    assert.equal(detector.isEjected('ep1'), true);
    advance(59_999);
    assert.equal(detector.isEjected('ep1'), true);
    advance(1);
    assert.equal(detector.isEjected('ep1'), false, 'back at the adopted end');
    fail(detector, 'ep1', 5);
    advance(89_999);
    assert.equal(detector.isEjected('ep1'), true, 'its next ejection is the third: 90 s');
    advance(1);
    assert.equal(detector.isEjected('ep1'), false);
  });

  it('lists the ejections in force, as adopt() takes them', () => {
    const { detector, advance } = setup(4);
    fail(detector, 'ep1', 5);
    detector.adopt('ep2', { until: 61_000, ejections: 3 });
    assert.deepEqual(detector.ejections(), [
      { endpointId: 'ep1', ejection: { until: 31_000, ejections: 1 } },
      { endpointId: 'ep2', ejection: { until: 61_000, ejections: 3 } },
    ]);
    advance(30_000);
    assert.deepEqual(detector.ejections(), [
      { endpointId: 'ep2', ejection: { until: 61_000, ejections: 3 } },
    ]);
  });

  it('keeps the later end when it adopts an ejection it already has, and ignores stale or unknown ones', () => {
    const { detector, advance } = setup(4);
    fail(detector, 'ep1', 5);
    detector.adopt('ep1', { until: 5_000, ejections: 1 });
    advance(29_999);
    assert.equal(detector.isEjected('ep1'), true, 'its own, longer, ejection stands');
    detector.adopt('ep2', { until: 1_000, ejections: 1 });
    assert.equal(detector.isEjected('ep2'), false, 'an ejection already over is not taken');
    detector.adopt('gone', { until: 99_000, ejections: 1 });
    assert.equal(detector.isEjected('gone'), false);
    assert.equal(detector.ejectedCount, 1);
  });
});
