/**
 * This hop's own RTCP receiver reports, sent upstream so that a sender sees
 * the loss and jitter at this hop (RFC 3550 §6.4.2). Reports go out at the
 * RFC 3550 §6.3 interval: the 5 s minimum, randomized over [0.5, 1.5] and
 * divided by e - 3/2 to compensate for the timer reconsideration (§6.3.1,
 * A.7) that a fixed-membership relay leg does not need.
 */
import { randomInt } from 'node:crypto';
import {
  buildReceiverReport,
  buildSdesCname,
  middle32,
  ntpFromUnixMs,
} from '../../../src/protocol/rtcp/index.js';
import type { StreamQuality } from '../../../src/media/quality/index.js';
import { monotonicClock } from '../../../src/media/packet-chain/index.js';
import type { Clock } from '../../../src/shared/clock.js';

const MINIMUM_INTERVAL_MS = 5_000;
const COMPENSATION = Math.E - 1.5;
/** An RR holds at most 31 report blocks (5-bit RC). */
const MAX_BLOCKS = 31;

export function rtcpIntervalMs(random: () => number = Math.random): number {
  return (MINIMUM_INTERVAL_MS * (0.5 + random())) / COMPENSATION;
}

export function ntpMiddle32Now(): number {
  return middle32(ntpFromUnixMs(Date.now()));
}

export interface ReceiverReporterOptions {
  readonly cname: string;
  readonly send: (compound: Buffer) => void;
  readonly streams: () => Iterable<{ readonly quality: StreamQuality }>;
  /** The clock the streams are measured on (DLSR is a difference of its times). */
  readonly clock?: Clock;
}

export class ReceiverReporter {
  readonly #options: ReceiverReporterOptions;
  /** This hop's SSRC as a reporter: random, as RFC 3550 §8.1 asks. */
  readonly ssrc = randomInt(1, 0xffffffff);
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ReceiverReporterOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#timer === undefined) this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
  }

  /** Builds the compound RR + SDES now (exposed for tests). */
  report(): Buffer | undefined {
    const now = (this.#options.clock ?? monotonicClock).now();
    const blocks = [];
    for (const stream of this.#options.streams()) {
      if (blocks.length === MAX_BLOCKS) break;
      blocks.push(stream.quality.reportBlock(now));
    }
    if (blocks.length === 0) return undefined;
    return Buffer.concat([
      buildReceiverReport(this.ssrc, blocks),
      buildSdesCname(this.ssrc, this.#options.cname),
    ]);
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      const compound = this.report();
      if (compound !== undefined) this.#options.send(compound);
      this.#schedule();
    }, rtcpIntervalMs());
    this.#timer.unref();
  }
}
