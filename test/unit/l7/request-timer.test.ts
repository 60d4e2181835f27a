/**
 * RequestTimer: the deadline and the idle timeout of a proxied request on
 * one timer, with real (short) times. And the forwarded grpc-timeout value,
 * which must stay within 8 digits however long the caller's deadline.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { RequestTimer } from '../../../rtp-proxy/l7/router/request-timer.js';
import { formatGrpcTimeout, parseGrpcTimeout } from '../../../rtp-proxy/l7/grpc.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a timer and records which of its events came, and when (ms after the start). */
function watched(deadlineMs: number, idleMs: number) {
  const startedAt = performance.now();
  const events: { kind: 'deadline' | 'idle'; atMs: number }[] = [];
  const timer = new RequestTimer(deadlineMs, idleMs, {
    onDeadline: () => events.push({ kind: 'deadline', atMs: performance.now() - startedAt }),
    onIdle: () => events.push({ kind: 'idle', atMs: performance.now() - startedAt }),
  });
  return { timer, events };
}

describe('RequestTimer', () => {
  it('ends an idle request after the idle time, once', async () => {
    const { events } = watched(10_000, 80);
    await sleep(250);
    assert.equal(events.length, 1, JSON.stringify(events));
    const atMs = events[0]?.atMs ?? 0;
    assert.equal(events[0]?.kind, 'idle');
    assert.ok(atMs >= 79, `idle after ${atMs} ms`);
  });

  it('keeps a request that moves bytes past its idle time, until its deadline', async () => {
    const { timer, events } = watched(300, 80);
    const touching = setInterval(timer.touch, 20);
    await sleep(450);
    clearInterval(touching);
    assert.deepEqual(
      events.map(({ kind }) => kind),
      ['deadline'],
    );
    const at = events[0]?.atMs ?? 0;
    assert.ok(at >= 299 && at < 400, `deadline after ${at} ms`);
  });

  it('counts idle time from the last byte', async () => {
    const { timer, events } = watched(10_000, 100);
    await sleep(60);
    timer.touch();
    await sleep(60);
    assert.equal(events.length, 0, 'not idle 60 ms after a byte');
    await sleep(150);
    assert.deepEqual(
      events.map(({ kind }) => kind),
      ['idle'],
    );
    assert.ok((events[0]?.atMs ?? 0) >= 159, `idle after ${events[0]?.atMs} ms`);
  });

  it('fires nothing once stopped', async () => {
    const { timer, events } = watched(50, 50);
    timer.stop();
    await sleep(150);
    assert.deepEqual(events, []);
  });

  it('waits out a deadline beyond what setTimeout takes (2^31 ms), as a days-long gRPC one', async () => {
    // grpc-timeout "2592000S" (30 days) on a route with no timeout of its own.
    const thirtyDaysMs = parseGrpcTimeout('2592000S') ?? 0;
    assert.ok(thirtyDaysMs > 2 ** 31);
    const { timer, events } = watched(thirtyDaysMs, 10_000);
    await sleep(100);
    timer.stop();
    assert.deepEqual(events, [], 'node runs a longer setTimeout after 1 ms');
  });
});

describe('formatGrpcTimeout', () => {
  it('writes milliseconds while they fit 8 digits, then coarser units, rounded down', () => {
    assert.equal(formatGrpcTimeout(0.4), '1m');
    assert.equal(formatGrpcTimeout(1234.9), '1234m');
    assert.equal(formatGrpcTimeout(99_999_999), '99999999m');
    assert.equal(formatGrpcTimeout(100_000_000), '100000S');
    assert.equal(formatGrpcTimeout(2_592_000_000), '2592000S');
    assert.equal(formatGrpcTimeout(1e13), '2777777H');
    // Beyond 8 digits of hours (more than 11,000 years): the largest value there is.
    assert.equal(formatGrpcTimeout(1e15), '99999999H');
  });

  it('gives values the parser takes back, never later than the time given', () => {
    for (const ms of [1, 999, 65_432_109, 123_456_789_012, 9.99e13]) {
      const text = formatGrpcTimeout(ms);
      assert.match(text, /^\d{1,8}[HMSm]$/);
      const back = parseGrpcTimeout(text) ?? Infinity;
      assert.ok(back <= Math.max(1, ms), `${ms} ms -> ${text} -> ${back} ms`);
    }
  });
});
