/**
 * LeaderElector's decisions, a unit test of the algorithm: the Lease API is
 * an in-memory stand-in that behaves as the API server does for one Lease
 * (a resourceVersion bumped at every write; create of an existing Lease and
 * replace naming an old version answered with a conflict, as 409), and the
 * timers are a manual clock, so each step states exact times. The real API
 * server is used by test/integration/kubernetes/leader-election.test.ts.
 *
 * Shown: a missing or free Lease is taken at once; a live one (changing,
 * whatever its renewTime says) is not; one that stops changing is taken
 * leaseDuration after it was last seen to change, counting a transition;
 * of two candidates writing the same version one wins; a leader that loses
 * a write to another stops at once; a leader that cannot renew stops at
 * renewDeadline (API failing or hanging), before any follower may take
 * over; release() frees the Lease so the follower takes it at its next read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LeaderElector,
  LeaseConflictError,
  type ElectionTimers,
  type LeaseApi,
  type LeaseRecord,
  type ObservedLease,
} from '../../../../src/control-plane/kubernetes/leader-election.js';
import { createLogger } from '../../../../src/shared/log.js';

const LEASE_MS = 10_000;
const DEADLINE_MS = 7_000;
const RETRY_MS = 2_000;
const START = Date.UTC(2026, 11, 5, 14, 0, 0);

/** Lets every promise chain already started settle (the in-memory API answers at once). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class ManualTimers implements ElectionTimers {
  #now = START;
  #next = 0;
  readonly #pending = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  after(delayMs: number, callback: () => void): () => void {
    const id = this.#next++;
    this.#pending.set(id, { at: this.#now + delayMs, callback });
    return () => this.#pending.delete(id);
  }

  /** Moves time on by `ms`, firing each timer due at its own time, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#pending) {
        if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.#pending.delete(due[0]);
      this.#now = due[1].at;
      due[1].callback();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** One Lease, kept as the API server keeps it: writes must name the version they read. */
class MemoryLease {
  lease: ObservedLease | undefined;
  writes = 0;
  #version = 100;
  /** Runs between a client's read and its next write (to make another write win in between). */
  beforeWrite: (() => void) | undefined;

  /** The Lease's record now (it must exist). */
  get record(): LeaseRecord {
    if (this.lease === undefined) throw new Error('no Lease');
    return this.lease.record;
  }

  put(record: LeaseRecord): ObservedLease {
    this.#version += 1;
    this.writes += 1;
    this.lease = { record, resourceVersion: String(this.#version) };
    return this.lease;
  }

  /** A client of the Lease whose calls can be made to fail or hang. */
  client(): LeaseApi & { mode: 'ok' | 'fail' | 'hang' } {
    const call = async <T>(work: () => T): Promise<T> => {
      if (client.mode === 'fail') throw new Error('connect ECONNREFUSED');
      if (client.mode === 'hang') return new Promise<T>(() => undefined);
      return work();
    };
    const client = {
      mode: 'ok' as 'ok' | 'fail' | 'hang',
      get: () => call(() => this.lease),
      create: (record: LeaseRecord) =>
        call(() => {
          this.#interfere();
          if (this.lease !== undefined) throw new LeaseConflictError('already exists');
          return this.put(record);
        }),
      replace: (record: LeaseRecord, resourceVersion: string) =>
        call(() => {
          this.#interfere();
          if (this.lease?.resourceVersion !== resourceVersion) {
            throw new LeaseConflictError('the object has been modified');
          }
          return this.put(record);
        }),
    };
    return client;
  }

  #interfere(): void {
    const hook = this.beforeWrite;
    this.beforeWrite = undefined;
    hook?.();
  }
}

interface Candidate {
  readonly elector: LeaderElector;
  readonly api: ReturnType<MemoryLease['client']>;
  readonly events: string[];
}

function candidate(store: MemoryLease, timers: ManualTimers, identity: string): Candidate {
  const events: string[] = [];
  const api = store.client();
  const elector = new LeaderElector({
    api,
    identity,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: DEADLINE_MS,
    retryPeriodMs: RETRY_MS,
    timers,
    log: createLogger('control-plane', 'silent'),
    onStartedLeading: () => events.push(`leading at ${timers.now() - START}`),
    onStoppedLeading: (reason) => events.push(`stopped at ${timers.now() - START}: ${reason}`),
    onNewLeader: (holder) => events.push(`new leader ${holder === '' ? '(none)' : holder}`),
  });
  return { elector, api, events };
}

function heldBy(holder: string, renewTime: number, transitions = 0): LeaseRecord {
  return {
    holderIdentity: holder,
    leaseDurationSeconds: LEASE_MS / 1000,
    acquireTime: renewTime,
    renewTime,
    leaseTransitions: transitions,
  };
}

describe('LeaderElector (in-memory Lease API, manual clock)', () => {
  it('creates a missing Lease and leads at once, renewing every retry period', async () => {
    const timers = new ManualTimers();
    const store = new MemoryLease();
    const a = candidate(store, timers, 'cp-0_a1');
    a.elector.start();
    await settle();
    assert.equal(a.elector.isLeader, true);
    assert.deepEqual(a.events, ['leading at 0']);
    assert.deepEqual(store.record, {
      holderIdentity: 'cp-0_a1',
      leaseDurationSeconds: 10,
      acquireTime: START,
      renewTime: START,
      leaseTransitions: 0,
    });
    await timers.advance(3 * RETRY_MS);
    assert.equal(store.writes, 4, 'the create and three renewals');
    assert.equal(store.record.renewTime, START + 3 * RETRY_MS);
    assert.equal(store.record.acquireTime, START, 'renewing keeps the acquire time');
    assert.equal(store.record.leaseTransitions, 0);
    await a.elector.release();
  });

  it('takes a free (released) Lease at once, counting a transition', async () => {
    const timers = new ManualTimers();
    const store = new MemoryLease();
    store.put({ ...heldBy('', START - 500, 4), leaseDurationSeconds: 1 });
    const b = candidate(store, timers, 'cp-1_b2');
    b.elector.start();
    await settle();
    assert.equal(b.elector.isLeader, true);
    assert.equal(store.record.holderIdentity, 'cp-1_b2');
    assert.equal(store.record.leaseTransitions, 5);
    assert.equal(store.record.acquireTime, START);
    await b.elector.release();
  });

  it('does not take a live Lease, however old its renewTime looks to this clock', async () => {
    const timers = new ManualTimers();
    const store = new MemoryLease();
    // The holder's clock is a day behind ours: its renewTime alone would say "expired".
    const skewed = START - 86_400_000;
    store.put(heldBy('cp-0_a1', skewed));
    const b = candidate(store, timers, 'cp-1_b2');
    b.elector.start();
    for (let second = 0; second < 60; second += 2) {
      await timers.advance(2_000);
      store.put(heldBy('cp-0_a1', skewed + second * 1000)); // the holder renews
    }
    assert.equal(b.elector.isLeader, false);
    assert.equal(b.elector.observedHolder, 'cp-0_a1');
    assert.deepEqual(b.events, ['new leader cp-0_a1']);
    await b.elector.release();
    assert.equal(store.record.holderIdentity, 'cp-0_a1', 'a follower releases nothing');
  });

  it('takes a Lease leaseDuration after it last saw it change, even one whose renewTime is in the future', async () => {
    const timers = new ManualTimers();
    const store = new MemoryLease();
    // The holder's clock is an hour ahead: by renewTime the Lease would look live for an hour.
    store.put(heldBy('cp-0_a1', START + 3_600_000, 2));
    const b = candidate(store, timers, 'cp-1_b2');
    b.elector.start();
    await settle(); // first seen at START; it never changes again (the holder died)
    await timers.advance(LEASE_MS - 1);
    assert.equal(b.elector.isLeader, false, 'not before leaseDuration has passed');
    await timers.advance(1 + RETRY_MS);
    assert.equal(b.elector.isLeader, true);
    assert.deepEqual(b.events, ['new leader cp-0_a1', `leading at ${LEASE_MS}`]);
    assert.equal(store.record.holderIdentity, 'cp-1_b2');
    assert.equal(store.record.leaseTransitions, 3);
    assert.equal(store.record.acquireTime, START + LEASE_MS);
    await b.elector.release();
  });

  it('of two candidates writing the same version, one wins and the other (409) follows', async () => {
    const timers = new ManualTimers();
    const store = new MemoryLease();
    const a = candidate(store, timers, 'cp-0_a1');
    const b = candidate(store, timers, 'cp-1_b2');
    // Both read "no Lease" before either writes.
    const [first, second] = await Promise.all([
      a.elector.tryAcquireOrRenew(),
      b.elector.tryAcquireOrRenew(),
    ]);
    assert.deepEqual(first, { outcome: 'held' });
    assert.deepEqual(second, { outcome: 'held by another', holder: 'cp-0_a1' });
    assert.equal(store.writes, 1);
  });

  it('a leader whose renewal loses to another write (409) stops leading at once', async () => {
    const timers = new ManualTimers();
    const store = new MemoryLease();
    const a = candidate(store, timers, 'cp-0_a1');
    a.elector.start();
    await settle();
    assert.equal(a.elector.isLeader, true);
    // Between the leader's read and its renewal another replica writes the Lease as its own.
    store.beforeWrite = () => {
      store.put(heldBy('cp-1_b2', START, 1));
    };
    await timers.advance(RETRY_MS);
    assert.equal(a.elector.isLeader, false);
    assert.deepEqual(a.events, [
      'leading at 0',
      'new leader cp-1_b2',
      `stopped at ${RETRY_MS}: cp-1_b2 holds the lease`,
    ]);
    const writes = store.writes;
    await timers.advance(5 * RETRY_MS);
    assert.equal(store.writes, writes, 'a replica that stopped leading writes no more');
  });

  for (const mode of ['fail', 'hang'] as const) {
    it(`a leader that cannot renew (API calls ${mode === 'fail' ? 'failing' : 'hanging'}) stops at renewDeadline, before the follower may take over`, async () => {
      const timers = new ManualTimers();
      const store = new MemoryLease();
      const a = candidate(store, timers, 'cp-0_a1');
      const b = candidate(store, timers, 'cp-1_b2');
      a.elector.start();
      await settle();
      b.elector.start();
      await timers.advance(RETRY_MS); // a renewed at RETRY_MS; b saw that
      a.api.mode = mode; // a is cut off from the API server, b is not
      await timers.advance(DEADLINE_MS - 1);
      assert.equal(a.elector.isLeader, true, 'still within renewDeadline of the last renewal');
      await timers.advance(1);
      assert.equal(a.elector.isLeader, false);
      assert.deepEqual(a.events, [
        'leading at 0',
        `stopped at ${RETRY_MS + DEADLINE_MS}: no renewal for ${DEADLINE_MS / 1000} s (renewDeadline)`,
      ]);
      assert.equal(b.elector.isLeader, false);
      await timers.advance(LEASE_MS);
      assert.equal(b.elector.isLeader, true);
      const [stopped, leading] = [a.events[1], b.events[1]];
      const at = (event: string | undefined): number =>
        Number(/at (\d+)/.exec(event ?? '')?.[1] ?? NaN);
      assert.ok(at(stopped) < at(leading), `a stopped (${stopped}) before b led (${leading})`);
      await b.elector.release();
    });
  }

  it('release() frees the Lease and the follower takes it at its next read', async () => {
    const timers = new ManualTimers();
    const store = new MemoryLease();
    const a = candidate(store, timers, 'cp-0_a1');
    const b = candidate(store, timers, 'cp-1_b2');
    a.elector.start();
    await settle();
    b.elector.start();
    await timers.advance(RETRY_MS / 2);
    await a.elector.release();
    assert.equal(a.elector.isLeader, false);
    assert.equal(store.record.holderIdentity, '');
    assert.equal(store.record.leaseDurationSeconds, 1);
    assert.deepEqual(a.events, ['leading at 0'], 'release() is no stop for a lost lease');
    await timers.advance(RETRY_MS);
    assert.equal(b.elector.isLeader, true, 'taken within one retry period, not a lease duration');
    assert.equal(store.record.holderIdentity, 'cp-1_b2');
    assert.equal(store.record.leaseTransitions, 1);
    const writes = store.writes;
    await timers.advance(RETRY_MS);
    assert.equal(store.writes, writes + 1, 'only b renews; a released and stopped');
    await b.elector.release();
  });
});
