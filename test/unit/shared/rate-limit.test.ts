/**
 * The per-source rate limiter (issue 17, point 7) with an injected clock, so
 * every figure is exact and no test sleeps: a burst then the steady rate,
 * Retry-After from the deficit, sources independent, a limit changed live,
 * the map bounded by evicting the source seen least recently (counted), a
 * clock stepping back, and the refusals counted in the metric by listener.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Clock } from '../../../src/shared/clock.js';
import {
  SourceRateLimiter,
  sourceKey,
  TokenBucket,
  type RateLimit,
} from '../../../src/shared/rate-limit/index.js';

class ManualClock implements Clock {
  ms = 1_000;
  now(): number {
    return this.ms;
  }
}

/** How many of `count` requests from `source` are allowed, all at the clock's current time. */
function allowedOf(limiter: SourceRateLimiter, source: string, count: number): number {
  let allowed = 0;
  for (let i = 0; i < count; i += 1) if (limiter.take(source).allowed) allowed += 1;
  return allowed;
}

describe('TokenBucket', () => {
  it('starts full, refills at the rate up to the burst, and says when to retry', () => {
    const limit: RateLimit = { perSecond: 2, burst: 3 };
    const bucket = new TokenBucket(limit, 0);
    assert.deepEqual(
      [0, 0, 0, 0].map(() => bucket.take(limit, 0)),
      [0, 0, 0, 1],
    );
    // Half a second at 2/s: one token back.
    assert.equal(bucket.take(limit, 500), 0);
    assert.equal(bucket.take(limit, 500), 1);
    // A long silence refills to the burst, not beyond.
    const later = 3_600_000;
    assert.deepEqual(
      [0, 0, 0, 0].map(() => bucket.take(limit, later)),
      [0, 0, 0, 1],
    );
  });

  it('rounds Retry-After up to whole seconds from the deficit at a slow rate', () => {
    const limit: RateLimit = { perSecond: 0.1, burst: 1 };
    const bucket = new TokenBucket(limit, 0);
    assert.equal(bucket.take(limit, 0), 0);
    // Empty: a token every 10 s.
    assert.equal(bucket.take(limit, 0), 10);
    assert.equal(bucket.take(limit, 4_000), 6);
  });

  it('refills nothing when the clock steps back', () => {
    const limit: RateLimit = { perSecond: 1000, burst: 1 };
    const bucket = new TokenBucket(limit, 10_000);
    assert.equal(bucket.take(limit, 10_000), 0);
    assert.notEqual(bucket.take(limit, 5_000), 0);
    assert.notEqual(bucket.take(limit, 5_000), 0);
  });
});

describe('sourceKey', () => {
  it('keys IPv4 by address and IPv6 by its /64, however it is spelled', () => {
    assert.equal(sourceKey('127.0.0.1'), '127.0.0.1');
    assert.equal(sourceKey('::ffff:127.0.0.2'), '127.0.0.2');
    assert.equal(sourceKey('::1'), '0:0:0:0::/64');
    const one = sourceKey('2001:db8:1:2:3:4:5:6');
    assert.equal(one, '2001:db8:1:2::/64');
    for (const same of ['2001:db8:1:2::9', '2001:0DB8:0001:0002:ffff::1', '2001:db8:1:2::']) {
      assert.equal(sourceKey(same), one, same);
    }
    assert.notEqual(sourceKey('2001:db8:1:3::1'), one);
    assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });

  it('gives one /64 one bucket: a host cannot take a fresh burst per address', () => {
    const limiter = new SourceRateLimiter({
      listener: 'test',
      limit: { perSecond: 1, burst: 5 },
      clock: new ManualClock(),
    });
    let allowed = 0;
    for (let host = 1; host <= 50; host += 1) {
      if (limiter.take(`2001:db8:1:2::${host.toString(16)}`).allowed) allowed += 1;
    }
    assert.equal(allowed, 5);
    assert.equal(allowedOf(limiter, '2001:db8:1:3::1', 5), 5, 'another /64 is served');
  });
});

describe('SourceRateLimiter', () => {
  it('limits each source alone: a flooding source is refused while another is served', () => {
    const clock = new ManualClock();
    const limiter = new SourceRateLimiter({
      listener: 'test',
      limit: { perSecond: 10, burst: 20 },
      clock,
    });
    assert.equal(allowedOf(limiter, '10.0.0.1', 100), 20);
    assert.equal(limiter.limited, 80);
    assert.equal(allowedOf(limiter, '10.0.0.2', 20), 20);
    const refused = limiter.take('10.0.0.1');
    assert.deepEqual(refused, { allowed: false, retryAfterSec: 1 });
    // One second at 10/s gives the flooder ten more, no more.
    clock.ms += 1_000;
    assert.equal(allowedOf(limiter, '10.0.0.1', 50), 10);
  });

  it('reads its limit at each request, so a config change applies at once', () => {
    const clock = new ManualClock();
    let limit: RateLimit = { perSecond: 1, burst: 1 };
    const limiter = new SourceRateLimiter({
      listener: 'test',
      limit: {
        get perSecond() {
          return limit.perSecond;
        },
        get burst() {
          return limit.burst;
        },
      },
      clock,
    });
    assert.equal(allowedOf(limiter, 'a', 5), 1);
    limit = { perSecond: 100, burst: 50 };
    clock.ms += 1_000;
    assert.equal(allowedOf(limiter, 'a', 80), 50);
  });

  it('remembers at most maxSources, forgetting the one seen least recently, counted', () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const limiter = new SourceRateLimiter({
      listener: 'test',
      limit: { perSecond: 1, burst: 1 },
      maxSources: 3,
      clock,
      registry,
    });
    for (const source of ['a', 'b', 'c']) assert.equal(limiter.take(source).allowed, true);
    // 'a' sends again (refused): it is now the most recent, 'b' the oldest.
    assert.equal(limiter.take('a').allowed, false);
    assert.equal(limiter.take('d').allowed, true);
    assert.equal(limiter.sources, 3);
    assert.equal(limiter.evicted, 1);
    // 'a' was kept (still refused), 'b' was forgotten (a fresh burst).
    assert.equal(limiter.take('a').allowed, false);
    assert.equal(limiter.take('b').allowed, true);
    assert.equal(limiter.evicted, 2);
    // A spray of new addresses never grows the map.
    for (let i = 0; i < 1_000; i += 1) limiter.take(`spray-${i}`);
    assert.equal(limiter.sources, 3);
    assert.equal(limiter.evicted, 1_002);
  });

  it('counts refusals and evictions by listener in the registry', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const one = new SourceRateLimiter({
      listener: 'one',
      limit: { perSecond: 1, burst: 2 },
      clock,
      registry,
      maxSources: 1,
    });
    const two = new SourceRateLimiter({
      listener: 'two',
      limit: { perSecond: 1, burst: 2 },
      clock,
      registry,
    });
    allowedOf(one, 'x', 5);
    allowedOf(two, 'x', 3);
    one.take('y');
    const values = async (name: string): Promise<Record<string, number>> =>
      Object.fromEntries(
        ((await registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => [
          String(v.labels['listener']),
          v.value,
        ]),
      );
    assert.deepEqual(await values('streammesh_rate_limited_requests_total'), {
      one: one.limited,
      two: two.limited,
    });
    assert.deepEqual([one.limited, two.limited], [3, 1], 'each listener counts its own refusals');
    assert.deepEqual(await values('streammesh_rate_limit_evicted_sources_total'), { one: 1 });
  });
});
