/**
 * StreamReportLimits (review finding 3): per stream, RoomReports and
 * PipeEndpoints each pass at REPORT_RATE (a burst, then the refill), one
 * kind's flood takes nothing from the other, and a stream's warnings are
 * logged at most once per REPORT_LOG_INTERVAL_MS.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  REPORT_LOG_INTERVAL_MS,
  REPORT_RATE,
  StreamReportLimits,
} from '../../../src/control-plane/config-push/report-limits.js';

describe('StreamReportLimits', () => {
  it('passes a burst, then what the rate refills; each kind on its own', () => {
    const limits = new StreamReportLimits(0);
    let passed = 0;
    for (let i = 0; i < 10 * REPORT_RATE.burst; i += 1) if (limits.admit('rooms', 0)) passed += 1;
    assert.equal(passed, REPORT_RATE.burst);
    assert.equal(limits.admit('pipes', 0), true, 'a flood of rooms leaves pipes alone');
    const oneToken = 1000 / REPORT_RATE.perSecond;
    assert.equal(limits.admit('rooms', oneToken / 2), false);
    assert.equal(limits.admit('rooms', oneToken), true, 'refilled at the rate');
    assert.equal(limits.admit('rooms', oneToken), false);
  });

  it('lets a warning through at most once per interval', () => {
    const limits = new StreamReportLimits(0);
    assert.equal(limits.mayLog(1_000), true);
    assert.equal(limits.mayLog(1_001), false);
    assert.equal(limits.mayLog(1_000 + REPORT_LOG_INTERVAL_MS - 1), false);
    assert.equal(limits.mayLog(1_000 + REPORT_LOG_INTERVAL_MS), true);
  });
});
