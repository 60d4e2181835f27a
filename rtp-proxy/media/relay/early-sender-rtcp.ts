/**
 * RTCP that reaches a route before its sender is latched. A sender's first
 * RTCP may come just ahead of its first RTP packet (ffmpeg's RTP muxer sends
 * an SR before the first packet, from its RTCP port): at that moment nobody
 * can tell whether it is the sender the route is about to latch or a
 * stranger. So it waits here, bounded in count and age, until an RTP packet
 * latches a sender; the route then runs it through its sender-RTCP chain,
 * which takes it from the latched address and drops anything else as
 * 'unlatched_source'. What waits too long, or is pushed out by newer
 * packets, never turned out to be the latched sender's: it is dropped under
 * the same reason, through `onDropped`, so every datagram is counted once.
 */

export interface EarlyRtcp {
  readonly datagram: Buffer;
  readonly address: string;
  readonly port: number;
  readonly arrivalMs: number;
}

export interface EarlySenderRtcpOptions {
  /** Datagrams kept at most; a newer one pushes the oldest out. */
  readonly maxPackets: number;
  /** A datagram older than this when the sender latches is not relayed. */
  readonly maxAgeMs: number;
  /** Counts a datagram that leaves without being released. */
  readonly onDropped: () => void;
}

export class EarlySenderRtcp {
  readonly #options: EarlySenderRtcpOptions;
  #waiting: EarlyRtcp[] = [];

  constructor(options: EarlySenderRtcpOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#waiting.length;
  }

  hold(rtcp: EarlyRtcp): void {
    this.expire(rtcp.arrivalMs);
    this.#waiting.push(rtcp);
    while (this.#waiting.length > this.#options.maxPackets) this.#drop(this.#waiting.shift());
  }

  /** Everything still young enough at `nowMs`, oldest first; nothing stays. */
  release(nowMs: number): readonly EarlyRtcp[] {
    this.expire(nowMs);
    const released = this.#waiting;
    this.#waiting = [];
    return released;
  }

  /** Drops what has waited past `maxAgeMs` (also called from the route's sweep). */
  expire(nowMs: number): void {
    const oldest = nowMs - this.#options.maxAgeMs;
    while (this.#waiting[0] !== undefined && this.#waiting[0].arrivalMs < oldest) {
      this.#drop(this.#waiting.shift());
    }
  }

  /** The route closes: whatever waits is dropped. */
  clear(): void {
    for (const rtcp of this.#waiting.splice(0)) this.#drop(rtcp);
  }

  #drop(rtcp: EarlyRtcp | undefined): void {
    if (rtcp !== undefined) this.#options.onDropped();
  }
}
