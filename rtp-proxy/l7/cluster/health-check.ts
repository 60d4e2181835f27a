/**
 * Active health checks, after Envoy's: every endpoint of a cluster is asked
 * `GET <path>` on its own schedule, and a 2xx answer (body read, within the
 * timeout) is a success; anything else (refused connect, reset, timeout, 4xx,
 * 5xx) is a failure. `unhealthy` consecutive failures take a healthy endpoint
 * out of rotation, `healthy` consecutive successes bring it back; single
 * blips in either direction change nothing.
 *
 * Endpoints start healthy so a fresh proxy serves at once instead of refusing
 * everything until its first round of checks has come back.
 *
 * The next check of an endpoint is scheduled only when its previous check has
 * finished, so at most one is in flight per endpoint however slow the
 * endpoint is. The interval carries +-10% jitter so that many proxies
 * started together do not check an endpoint in lock-step.
 *
 * Each check uses a connection of its own (HTTP/1.1 without keep-alive, or an
 * HTTP/2 session with prior knowledge that is closed after the check): a check
 * every few seconds costs little, and a fresh connection also proves the
 * endpoint still accepts new ones, which a reused connection would hide.
 *
 * A proxy serving from several L7 threads has a checker per thread, but each
 * endpoint is probed by one of them only, its owner (`owns`, from
 * health-owner.ts), as Envoy probes once per proxy: the owner's transitions
 * are stamped (`since`, from a counter the threads share) and told to the
 * other threads, whose checkers adopt them (adopt) and never probe that endpoint.
 * The newest stamp wins, whoever relays it, so a thread that learns states
 * from several others in any order ends with the owner's latest.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { httpUrl } from '../../../src/shared/address.js';
import { systemClock, type Clock } from '../../../src/shared/clock.js';
import type { Logger } from '../../../src/shared/log.js';
import type { UpstreamConnector } from '../upstream/upstream-tls.js';

export interface HealthTarget {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

export interface HealthCheckOptions {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failures that mark a healthy endpoint unhealthy. */
  readonly unhealthy: number;
  /** Consecutive successes that mark an unhealthy endpoint healthy. */
  readonly healthy: number;
  /** The cluster speaks HTTP/2 (prior knowledge, or ALPN over TLS): check over HTTP/2 too. */
  readonly http2: boolean;
  /** Makes each check's connection (mesh TLS); plain TCP when absent. */
  readonly connector?: UpstreamConnector;
  /** Host / :authority to send; the endpoint id when absent. */
  readonly authority?: string;
  /**
   * Called on each transition this checker's own probes decide (not on
   * adopted ones), with its time; an exception it throws is logged, never raised.
   */
  readonly onChange?: (id: string, healthy: boolean, since: number) => void;
  /** Whether this checker probes `id` (default: every endpoint); the others' health is adopted. */
  readonly owns?: (id: string) => boolean;
  /** Stamps transitions when `stamp` is absent (one thread: its stamps are compared with its own). */
  readonly clock?: Clock;
  /**
   * Stamps transitions whose stamps other threads compare: a counter they
   * share (cluster-state-channel.ts), which a wall-clock step cannot reorder.
   */
  readonly stamp?: () => number;
}

/** An endpoint's health as its owner last decided it. */
export interface HealthState {
  readonly id: string;
  readonly healthy: boolean;
  /**
   * The stamp of the owner's transition that decided it (HealthCheckOptions.stamp,
   * or the clock's time); 0 while nobody has (the endpoint is assumed healthy, as at start).
   */
  readonly since: number;
}

export interface HealthSnapshot {
  readonly id: string;
  readonly healthy: boolean;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
}

export const HEALTH_CHECK_USER_AGENT = 'streammesh-health-check';

/** A health endpoint answers with a short body; more than this is not read. */
const MAX_BODY_BYTES = 64 * 1024;

/** What one check found: a 2xx status, or why it failed. */
export type ProbeResult =
  { readonly ok: true; readonly status: number } | { readonly ok: false; readonly reason: string };

interface ProbeRequest {
  readonly path: string;
  readonly authority: string;
  readonly timeoutMs: number;
}

/** The interval scaled by a factor in [0.9, 1.1); `random` returns [0, 1). */
export function jitteredInterval(intervalMs: number, random: () => number = Math.random): number {
  return intervalMs * (0.9 + 0.2 * random());
}

interface EndpointState {
  readonly target: HealthTarget;
  healthy: boolean;
  /** See HealthState.since. */
  since: number;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** The wait before the next check; undefined while a check runs. */
  timer: NodeJS.Timeout | undefined;
  /** Aborts the check in flight; undefined between checks. */
  inFlight: AbortController | undefined;
}

export class HealthChecker {
  readonly #options: HealthCheckOptions;
  readonly #log: Logger;
  readonly #endpoints = new Map<string, EndpointState>();
  #started = false;
  #closed = false;

  constructor(targets: readonly HealthTarget[], options: HealthCheckOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
    for (const target of targets) this.#add(target);
  }

  /**
   * Changes the endpoints checked: kept ones keep their state and schedule,
   * new ones start healthy and are checked at once (once started), removed
   * ones stop being checked.
   */
  setTargets(targets: readonly HealthTarget[]): void {
    const wanted = new Set(targets.map((target) => target.id));
    for (const [id, state] of this.#endpoints) {
      if (wanted.has(id)) continue;
      clearTimeout(state.timer);
      state.inFlight?.abort();
      this.#endpoints.delete(id);
    }
    for (const target of targets) {
      const state = this.#add(target);
      if (state !== undefined && this.#started && !this.#closed && this.#owns(state)) {
        this.#check(state);
      }
    }
  }

  /** The new endpoint's state; undefined when it is already known. */
  #add(target: HealthTarget): EndpointState | undefined {
    // A duplicate id would share one health state anyway; check it once.
    if (this.#endpoints.has(target.id)) return undefined;
    const state: EndpointState = {
      target,
      healthy: true,
      since: 0,
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      timer: undefined,
      inFlight: undefined,
    };
    this.#endpoints.set(target.id, state);
    return state;
  }

  /** Checks every endpoint it owns at once, then each on its own jittered interval. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    for (const state of this.#endpoints.values()) {
      if (this.#owns(state)) this.#check(state);
    }
  }

  /**
   * Takes an endpoint's health as another thread knows it, if newer than
   * what this checker holds: an owner's transition, or (for a thread that
   * just started, its own endpoints included) the last one the others
   * heard. The consecutive counts stay: an owner goes on from the adopted
   * state with its own probes. Returns whether the health changed.
   */
  adopt(state: HealthState): boolean {
    const held = this.#endpoints.get(state.id);
    if (held === undefined || state.since <= held.since) return false;
    held.since = state.since;
    if (held.healthy === state.healthy) return false;
    held.healthy = state.healthy;
    this.#log.info(
      { endpoint: state.id, healthy: state.healthy },
      state.healthy
        ? "endpoint passes another L7 thread's health checks again"
        : "endpoint fails another L7 thread's health checks, taken out of rotation",
    );
    return true;
  }

  /** The endpoints whose health a transition decided (since > 0), for a thread that asks. */
  decided(): HealthState[] {
    return [...this.#endpoints.values()]
      .filter((state) => state.since > 0)
      .map((state) => ({ id: state.target.id, healthy: state.healthy, since: state.since }));
  }

  /** Unknown ids are healthy: health checks only ever take known endpoints out. */
  isHealthy(id: string): boolean {
    return this.#endpoints.get(id)?.healthy ?? true;
  }

  snapshot(): HealthSnapshot[] {
    return [...this.#endpoints.values()].map((state) => ({
      id: state.target.id,
      healthy: state.healthy,
      consecutiveFailures: state.consecutiveFailures,
      consecutiveSuccesses: state.consecutiveSuccesses,
    }));
  }

  /** Stops all timers and aborts checks in flight (their sockets are destroyed at once). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const state of this.#endpoints.values()) {
      clearTimeout(state.timer);
      state.timer = undefined;
      state.inFlight?.abort();
      state.inFlight = undefined;
    }
  }

  #owns(state: EndpointState): boolean {
    return this.#options.owns?.(state.target.id) ?? true;
  }

  #check(state: EndpointState): void {
    const controller = new AbortController();
    state.inFlight = controller;
    const request: ProbeRequest = {
      path: this.#options.path,
      authority: this.#options.authority ?? state.target.id,
      timeoutMs: this.#options.timeoutMs,
    };
    const probe = this.#options.http2 ? probeHttp2 : probeHttp1;
    void probe(state.target, request, controller.signal, this.#options.connector).then((result) => {
      // close() aborted it: the endpoint's state no longer matters.
      if (controller.signal.aborted) return;
      state.inFlight = undefined;
      this.#record(state, result);
      this.#schedule(state);
    });
  }

  #schedule(state: EndpointState): void {
    if (this.#closed) return;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!this.#closed) this.#check(state);
    }, jitteredInterval(this.#options.intervalMs));
    // A health checker alone must not keep a process alive.
    state.timer.unref();
  }

  #record(state: EndpointState, result: ProbeResult): void {
    if (result.ok) {
      state.consecutiveSuccesses += 1;
      state.consecutiveFailures = 0;
      if (!state.healthy && state.consecutiveSuccesses >= this.#options.healthy) {
        state.healthy = true;
        state.since = this.#stamp(state);
        this.#log.info({ endpoint: state.target.id }, 'endpoint passes health checks again');
        this.#notify(state);
      }
      return;
    }
    state.consecutiveFailures += 1;
    state.consecutiveSuccesses = 0;
    this.#log.debug({ endpoint: state.target.id, reason: result.reason }, 'health check failed');
    if (state.healthy && state.consecutiveFailures >= this.#options.unhealthy) {
      state.healthy = false;
      state.since = this.#stamp(state);
      this.#log.warn(
        { endpoint: state.target.id, reason: result.reason, failures: state.consecutiveFailures },
        'endpoint fails health checks, taken out of rotation',
      );
      this.#notify(state);
    }
  }

  /**
   * A transition's stamp, always after the state it replaces (with the clock,
   * an adopted stamp may be a hair ahead of this thread's reading of it).
   */
  #stamp(state: EndpointState): number {
    const next = this.#options.stamp?.() ?? (this.#options.clock ?? systemClock).now();
    return Math.max(next, state.since + 1);
  }

  #notify(state: EndpointState): void {
    try {
      this.#options.onChange?.(state.target.id, state.healthy, state.since);
    } catch (error) {
      this.#log.error({ err: error, endpoint: state.target.id }, 'health onChange listener threw');
    }
  }
}

function judge(status: number): ProbeResult {
  return status >= 200 && status <= 299
    ? { ok: true, status }
    : { ok: false, reason: `status ${status}` };
}

function failure(error: unknown): ProbeResult {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return { ok: false, reason: code };
  return { ok: false, reason: error instanceof Error ? error.message : String(error) };
}

/**
 * Runs `start` with a `finish` that settles the probe once: it clears the
 * timeout, detaches from the abort signal and calls the cleanup `start`
 * returned (which must destroy the probe's socket), whichever of answer,
 * error, timeout or abort comes first. Sockets report only asynchronously, so
 * `finish` cannot run before `start` has returned its cleanup.
 */
function settleOnce(
  request: ProbeRequest,
  signal: AbortSignal,
  start: (finish: (result: ProbeResult) => void) => () => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup: (() => void) | undefined;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      cleanup?.();
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, reason: 'aborted' });
    const timer = setTimeout(
      () => finish({ ok: false, reason: `no answer within ${request.timeoutMs} ms` }),
      request.timeoutMs,
    );
    timer.unref();
    if (signal.aborted) {
      finish({ ok: false, reason: 'aborted' });
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      cleanup = start(finish);
    } catch (error) {
      // e.g. a path or authority that node refuses to put on the wire.
      finish(failure(error));
    }
  });
}

/** Counts body bytes; past the bound the status alone decides. */
function bodyReader(
  status: () => number,
  finish: (result: ProbeResult) => void,
): (chunk: Buffer) => void {
  let bytes = 0;
  return (chunk) => {
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) finish(judge(status()));
  };
}

function probeHttp1(
  target: HealthTarget,
  request: ProbeRequest,
  signal: AbortSignal,
  connector: UpstreamConnector | undefined,
): Promise<ProbeResult> {
  return settleOnce(request, signal, (finish) => {
    const outgoing = http.request({
      host: target.host,
      port: target.port,
      method: 'GET',
      path: request.path,
      // A fresh connection per check, closed after it (no pool to leak).
      agent: false,
      ...(connector === undefined
        ? {}
        : { createConnection: () => connector(target, ['http/1.1']) }),
      headers: { host: request.authority, 'user-agent': HEALTH_CHECK_USER_AGENT },
    });
    outgoing.on('error', (error) => finish(failure(error)));
    outgoing.on('response', (response) => {
      const status = response.statusCode ?? 0;
      response.on(
        'data',
        bodyReader(() => status, finish),
      );
      response.on('end', () => finish(judge(status)));
      response.on('error', (error) => finish(failure(error)));
      // After 'end' this is a no-op; before it the answer was cut short.
      response.on('close', () => finish({ ok: false, reason: 'closed before the body ended' }));
    });
    outgoing.end();
    return () => outgoing.destroy();
  });
}

function probeHttp2(
  target: HealthTarget,
  request: ProbeRequest,
  signal: AbortSignal,
  connector: UpstreamConnector | undefined,
): Promise<ProbeResult> {
  return settleOnce(request, signal, (finish) => {
    const session =
      connector === undefined
        ? http2.connect(httpUrl(target))
        : http2.connect(httpUrl(target).replace(/^http:/, 'https:'), {
            createConnection: () => connector(target, ['h2']),
          });
    session.on('error', (error) => finish(failure(error)));
    let status = 0;
    const stream = session.request(
      {
        ':method': 'GET',
        ':path': request.path,
        ':authority': request.authority,
        'user-agent': HEALTH_CHECK_USER_AGENT,
      },
      { endStream: true },
    );
    stream.on('response', (headers) => {
      status = headers[':status'] ?? 0;
    });
    stream.on(
      'data',
      bodyReader(() => status, finish),
    );
    stream.on('end', () =>
      finish(status === 0 ? { ok: false, reason: 'stream ended without headers' } : judge(status)),
    );
    stream.on('error', (error) => finish(failure(error)));
    stream.on('close', () =>
      finish({ ok: false, reason: `stream closed (code ${stream.rstCode})` }),
    );
    return () => session.destroy();
  });
}
