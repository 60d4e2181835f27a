/**
 * The flows of one target under one packet size: the target's ingress set
 * up, a generator child sending to it, a warm-up. A step that lost packets
 * leaves the session dirty, and the next step starts on fresh flows: an
 * overloaded relay may keep a backlog (packets that would be counted in the
 * next step), and rtpengine, once a stream's receive queue has overflowed
 * five times, discards that stream's packets for the rest of the call.
 *
 * A flow (its source port and SSRC) is one sender per target for the whole
 * benchmark: its sequence numbers go on across that target's generators and
 * sessions (FlowNumbering), as a real sender's would. Relays keep per-SSRC
 * state (an SRTP sender's highest index): a flow that jumped to a random
 * number under the same SSRC at each new generator, or by however many
 * packets it sent to other targets meanwhile, would start behind that
 * highest index about half the time, and a streammesh SRTP target
 * protects such packets through node:crypto (libsrtp-transform.ts), a slow
 * path the benchmark would measure instead of libsrtp.
 */
import type { Child } from './children.js';
import { startGenerator, type LoadKind } from './load.js';
import { stepper, type LatencyResult, type Stepper } from './measure.js';
import type { GeneratorConfig, GeneratorRun, StreamSpec } from './messages.js';
import type { Flow, Target } from './targets.js';

/** Each flow's next sequence number on one target, from the last run of its generators. */
export class FlowNumbering {
  #next: readonly number[] = [];

  /** The flows as a generator's streams to `ingress`, numbered on from the last run. */
  streams(flows: readonly Flow[], ingress: readonly number[]): StreamSpec[] {
    return flows.map((flow, i) => {
      const stream = { src: flow.src, dst: ingress[i] ?? 0, ssrc: flow.ssrc };
      const sequence = this.#next[i];
      return sequence === undefined ? stream : { ...stream, sequence };
    });
  }

  record(run: GeneratorRun): void {
    this.#next = run.next;
  }
}

export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

export interface SessionOptions {
  readonly target: Target;
  readonly flows: readonly Flow[];
  readonly size: number;
  readonly receiver: Child;
  /** The generator's kind (the receiver's is the caller's). */
  readonly load: LoadKind;
  readonly drainMs: number;
  readonly warmupMs: number;
  /** The target's: shared by every session of the benchmark on this target. */
  readonly numbering: FlowNumbering;
  /** Date.now() after which no step starts. */
  readonly deadline: number;
}

export class FlowSession implements Stepper {
  readonly #options: SessionOptions;
  #generator: Child | undefined;
  #stepper: Stepper | undefined;
  #dirty = true;
  /** How many times the flows were set up (1 + steps with loss). */
  opened = 0;

  constructor(options: SessionOptions) {
    this.#options = options;
  }

  async step(ratePps: number, durationMs: number, relayPid?: number): Promise<LatencyResult> {
    if (Date.now() > this.#options.deadline)
      throw new DeadlineError('benchmark time bound reached');
    if (this.#dirty || this.#stepper === undefined) await this.#reopen();
    if (this.#stepper === undefined) throw new Error('flows not open');
    const result = await this.#stepper.step(ratePps, durationMs, relayPid);
    if (result.lost !== 0) this.#dirty = true;
    return result;
  }

  async close(): Promise<void> {
    await this.#generator?.stop();
    this.#generator = undefined;
    this.#stepper = undefined;
    await this.#options.target.close();
  }

  async #reopen(): Promise<void> {
    const { target, flows, size, receiver, numbering } = this.#options;
    if (this.opened > 0) await this.close();
    this.opened++;
    const ingress = await target.open();
    const config: GeneratorConfig = {
      size,
      streams: numbering.streams(flows, ingress),
    };
    this.#generator = await startGenerator(this.#options.load, config);
    const fresh = stepper(this.#generator, receiver, this.#options.drainMs, (run) => {
      numbering.record(run);
    });
    // Warm-up: relays learn (latch onto) the senders, JIT compilers settle,
    // and a backlog from an earlier overload drains.
    const warm = await fresh.step(2_000, this.#options.warmupMs);
    if (warm.received === 0) {
      throw new Error(`nothing came through ${target.name} (sent ${warm.sent})`);
    }
    this.#stepper = fresh;
    this.#dirty = false;
  }
}
