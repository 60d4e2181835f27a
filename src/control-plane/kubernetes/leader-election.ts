/**
 * Leader election among control plane replicas over a coordination.k8s.io/v1
 * Lease, the algorithm of client-go's leaderelection package, so that the
 * replicas behave as every Kubernetes controller's do:
 *
 * - A candidate reads the Lease every retry period; it creates it when
 *   missing, and takes it when it is free (no holder: released) or when the
 *   holder has not renewed it for leaseDurationSeconds. That time is measured
 *   on this process's clock from when it last saw the Lease change, never by
 *   comparing the renewTime written by another machine's clock with ours.
 * - Every write carries the resourceVersion read (optimistic concurrency):
 *   of two candidates writing the same version, the API server lets one win
 *   and answers 409 to the other, which stays a follower.
 * - The leader renews every retry period. One that has not renewed for
 *   renewDeadline stops leading (onStoppedLeading); renewDeadline is shorter
 *   than leaseDuration, and its clock starts before the renewal was sent, so
 *   it stops before any follower may take over (never two leaders). A leader
 *   that sees another holder of a live Lease stops at once.
 * - Taking over from another holder counts one leaseTransitions.
 * - release() (on SIGTERM) writes the Lease free, with a 1 s duration, as
 *   client-go's ReleaseOnCancel does, so a follower takes over at its next
 *   read instead of waiting the lease out.
 *
 * The Lease API (get/create/replace) and the timers are injected: the
 * Kubernetes one is lease-api.ts, and unit tests drive the decisions with an
 * in-memory API and a manual clock.
 */
import type { Clock } from '../../shared/clock.js';
import { StreammeshError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';

/** What a Lease's spec says, times as Unix ms; holderIdentity '' when free. */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: number;
  readonly renewTime: number;
  readonly leaseTransitions: number;
}

/** A Lease as read or written, with the version a replace must name. */
export interface ObservedLease {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/** The one Lease this election is about. */
export interface LeaseApi {
  /** The Lease, or undefined when it does not exist. */
  get(): Promise<ObservedLease | undefined>;
  /** Creates the Lease; throws LeaseConflictError when it exists already. */
  create(record: LeaseRecord): Promise<ObservedLease>;
  /** Replaces the Lease read at `resourceVersion`; throws LeaseConflictError when it has changed since. */
  replace(record: LeaseRecord, resourceVersion: string): Promise<ObservedLease>;
}

/** Someone else wrote the Lease first (HTTP 409): they won. */
export class LeaseConflictError extends StreammeshError {
  constructor(message: string) {
    super('ERR_LEASE_CONFLICT', message);
  }
}

/** The time now, and a one-shot timer. */
export interface ElectionTimers extends Clock {
  /** Calls `callback` after `delayMs`; the returned function cancels it. */
  after(delayMs: number, callback: () => void): () => void;
}

export const systemElectionTimers: ElectionTimers = {
  now: () => Date.now(),
  after(delayMs, callback) {
    const timer = setTimeout(callback, delayMs);
    return () => clearTimeout(timer);
  },
};

export interface LeaderElectorOptions {
  readonly api: LeaseApi;
  /** Who this process is in the Lease's holderIdentity: unique per process start. */
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly timers?: ElectionTimers;
  readonly log: Logger;
  /** This process leads now (called once). */
  readonly onStartedLeading?: () => void;
  /** This process led and stops leading now, for `reason` (called once; not after release()). */
  readonly onStoppedLeading?: (reason: string) => void;
  /** The Lease names a new holder ('' when released); called for other holders only. */
  readonly onNewLeader?: (holder: string) => void;
}

/** How one read-and-write of the Lease ended. */
type Attempt =
  | { readonly outcome: 'held' }
  | { readonly outcome: 'held by another'; readonly holder: string }
  | { readonly outcome: 'failed'; readonly reason: string };

export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #timers: ElectionTimers;
  /** The Lease as last read or written, and when (our clock) it was first seen so. */
  #observed: ObservedLease | undefined;
  #observedAt = 0;
  #leading = false;
  /** Our clock when the last successful renewal was sent. */
  #renewedAt = 0;
  #stopped = false;
  #cancelNext: (() => void) | undefined;
  #cancelDeadline: (() => void) | undefined;
  #inFlight: Promise<Attempt> | undefined;
  #started = false;
  #lastFailure: string | undefined;

  constructor(options: LeaderElectorOptions) {
    if (options.renewDeadlineMs >= options.leaseDurationMs) {
      throw new RangeError('renewDeadline must be shorter than leaseDuration');
    }
    this.#options = options;
    this.#timers = options.timers ?? systemElectionTimers;
  }

  get identity(): string {
    return this.#options.identity;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** The holder named by the Lease as last seen ('' when free, undefined before the first read). */
  get observedHolder(): string | undefined {
    return this.#observed?.record.holderIdentity;
  }

  /** Starts trying to take the Lease: at once, then every retry period until it leads. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#tick();
  }

  /**
   * Stops: no more reads or writes. A leader writes the Lease free (the
   * last version it wrote), so that a follower takes over at its next read;
   * a conflict there means someone else holds it already, and is ignored.
   */
  async release(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#cancelTimers();
    await this.#inFlight;
    this.#leading = false;
    // What we last wrote or read, not #leading: an attempt that took the Lease as we stopped counts.
    const observed = this.#observed;
    if (observed?.record.holderIdentity !== this.identity) return;
    const now = this.#timers.now();
    try {
      this.#observed = await this.#options.api.replace(
        {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: observed.record.leaseTransitions,
        },
        observed.resourceVersion,
      );
      this.#options.log.info({ identity: this.identity }, 'leader election: released the lease');
    } catch (error) {
      this.#options.log.warn(
        { identity: this.identity, err: errorMessage(error) },
        'leader election: could not release the lease (a follower takes over when it expires)',
      );
    }
  }

  #tick(): void {
    if (this.#stopped) return;
    const attempt = this.tryAcquireOrRenew();
    this.#inFlight = attempt;
    void attempt
      .then((result) => {
        if (this.#inFlight === attempt) this.#inFlight = undefined;
        if (this.#stopped) return;
        if (this.#leading) this.#afterRenewal(result);
        else if (result.outcome === 'held') this.#startLeading();
        else this.#noteCandidateFailure(result);
      })
      .catch((error: unknown) => {
        this.#options.log.error({ err: error }, 'leader election: a callback failed');
      })
      .finally(() => {
        if (this.#stopped) return;
        this.#cancelNext = this.#timers.after(this.#options.retryPeriodMs, () => this.#tick());
      });
  }

  /** A candidate's failed attempts, logged when the reason changes (not every retry period). */
  #noteCandidateFailure(result: Attempt): void {
    const reason = result.outcome === 'failed' ? result.reason : undefined;
    if (reason !== undefined && reason !== this.#lastFailure) {
      this.#options.log.warn(
        { identity: this.identity, err: reason },
        'leader election: could not read or take the lease; retrying',
      );
    }
    this.#lastFailure = reason;
  }

  #startLeading(): void {
    this.#leading = true;
    this.#armDeadline();
    this.#options.log.info(
      { identity: this.identity, leaseTransitions: this.#observed?.record.leaseTransitions },
      'leader election: acquired the lease, leading',
    );
    this.#options.onStartedLeading?.();
  }

  #afterRenewal(result: Attempt): void {
    switch (result.outcome) {
      case 'held':
        this.#armDeadline();
        return;
      case 'held by another':
        this.#stopLeading(`${result.holder} holds the lease`);
        return;
      case 'failed':
        // Tried again next retry period, until the deadline's timer stops us.
        this.#options.log.warn(
          { identity: this.identity, err: result.reason },
          'leader election: renewal failed',
        );
    }
  }

  /** The renew deadline counts from the last renewal sent; a renewal that hangs does not hold it off. */
  #armDeadline(): void {
    this.#cancelDeadline?.();
    const left = this.#renewedAt + this.#options.renewDeadlineMs - this.#timers.now();
    this.#cancelDeadline = this.#timers.after(Math.max(0, left), () => {
      this.#stopLeading(`no renewal for ${this.#options.renewDeadlineMs / 1000} s (renewDeadline)`);
    });
  }

  #stopLeading(reason: string): void {
    if (!this.#leading || this.#stopped) return;
    this.#leading = false;
    this.#stopped = true;
    this.#cancelTimers();
    this.#options.log.error(
      { identity: this.identity, reason },
      'leader election: lost the lease, stopping leading',
    );
    this.#options.onStoppedLeading?.(reason);
  }

  #cancelTimers(): void {
    this.#cancelNext?.();
    this.#cancelDeadline?.();
    this.#cancelNext = undefined;
    this.#cancelDeadline = undefined;
  }

  /**
   * One read of the Lease and, when this process may hold it, one write:
   * client-go's tryAcquireOrRenew. Exposed for the unit test of the decisions.
   */
  async tryAcquireOrRenew(): Promise<Attempt> {
    const { api, identity } = this.#options;
    const sentAt = this.#timers.now();
    const record = (previous: LeaseRecord | undefined): LeaseRecord => ({
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000),
      // Renewing keeps the time it was acquired and the transitions; taking over counts one.
      acquireTime: previous?.holderIdentity === identity ? previous.acquireTime : sentAt,
      renewTime: sentAt,
      leaseTransitions:
        previous === undefined
          ? 0
          : previous.leaseTransitions + (previous.holderIdentity === identity ? 0 : 1),
    });
    let current: ObservedLease | undefined;
    try {
      current = await this.#call(api.get());
      if (current === undefined) {
        return this.#written(await this.#call(api.create(record(undefined))), sentAt);
      }
      this.#observe(current);
      const holder = this.#liveHolderOtherThanUs(current);
      if (holder !== undefined) return { outcome: 'held by another', holder };
      return this.#written(
        await this.#call(api.replace(record(current.record), current.resourceVersion)),
        sentAt,
      );
    } catch (error) {
      if (!(error instanceof LeaseConflictError)) {
        return { outcome: 'failed', reason: errorMessage(error) };
      }
    }
    // Someone wrote the Lease between our read and our write: they won. Read
    // again at once to learn who, so that a leader stops without waiting a period.
    try {
      const winner = await this.#call(api.get());
      if (winner !== undefined) {
        this.#observe(winner);
        const holder = this.#liveHolderOtherThanUs(winner);
        if (holder !== undefined) return { outcome: 'held by another', holder };
      }
      return { outcome: 'failed', reason: 'conflict: the lease changed since it was read' };
    } catch (error) {
      return { outcome: 'failed', reason: `conflict, then: ${errorMessage(error)}` };
    }
  }

  /** The holder of a Lease that has not expired by our clock, when not us. */
  #liveHolderOtherThanUs(lease: ObservedLease): string | undefined {
    const { holderIdentity, leaseDurationSeconds } = lease.record;
    if (holderIdentity === '' || holderIdentity === this.identity) return undefined;
    const expiresAt = this.#observedAt + leaseDurationSeconds * 1000;
    return expiresAt > this.#timers.now() ? holderIdentity : undefined;
  }

  /**
   * A call to the API server, given up after renewDeadline: a request that
   * hangs must not stall the election (its late answer is ignored; the next
   * read shows what it did).
   */
  async #call<T>(request: Promise<T>): Promise<T> {
    let cancel: (() => void) | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      cancel = this.#timers.after(this.#options.renewDeadlineMs, () =>
        reject(new Error(`no answer from the API server in ${this.#options.renewDeadlineMs} ms`)),
      );
    });
    try {
      return await Promise.race([request, timeout]);
    } finally {
      cancel?.();
    }
  }

  #written(lease: ObservedLease, sentAt: number): Attempt {
    this.#observed = lease;
    this.#observedAt = this.#timers.now();
    this.#renewedAt = sentAt;
    return { outcome: 'held' };
  }

  /** Notes a Lease read; its clock restarts only when it has changed (a new version). */
  #observe(lease: ObservedLease): void {
    const previous = this.#observed;
    if (previous?.resourceVersion === lease.resourceVersion) return;
    this.#observed = lease;
    this.#observedAt = this.#timers.now();
    const holder = lease.record.holderIdentity;
    if (holder !== this.identity && holder !== previous?.record.holderIdentity) {
      this.#options.log.info(
        { identity: this.identity, holder: holder === '' ? null : holder },
        holder === ''
          ? 'leader election: the lease is free'
          : 'leader election: observed new leader',
      );
      this.#options.onNewLeader?.(holder);
    }
  }
}
