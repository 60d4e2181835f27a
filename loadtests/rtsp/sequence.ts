/**
 * What one viewer got, from RTP headers only.
 *
 * Loss from sequence numbers (RFC 3550 §6.4.1, A.1), counted from the
 * viewer's first packet on: a viewer the proxy holds back until a keyframe
 * has lost nothing before its first packet.
 *
 *   expected = highest extended sequence number - first + 1
 *   lost     = expected - received
 *
 * A packet older than the highest (reordered, or a duplicate) counts as
 * received and moves nothing, so `lost` may dip below 0 by the duplicates.
 *
 * Delay from transit times (RFC 3550 §6.4.1): arrival (wall clock, ms)
 * minus the RTP timestamp (90 kHz, in ms). Its absolute value means nothing
 * (the timestamp has a random origin), but viewers of one target share the
 * timestamps, so a viewer's latest transit minus the smallest transit any
 * of them saw is how far behind real time it is receiving: a relay that
 * cannot keep up queues packets (socket buffers, TCP backlogs) long before
 * it loses any.
 */
export class SequenceCounter {
  received = 0;
  bytes = 0;
  /** Wall-clock ms of the first packet. */
  firstAtMs: number | undefined;
  /** Transit (ms) of the latest packet, and the smallest seen. */
  lastTransitMs = Number.NaN;
  minTransitMs = Number.POSITIVE_INFINITY;
  #first = 0;
  #highest = 0;
  #cycles = 0;
  #maxSeq = 0;

  /** `timestamp` is the RTP timestamp (unsigned 32-bit), `arrivalMs` the wall clock. */
  record(sequence: number, timestamp: number, length: number, arrivalMs: number): void {
    this.received += 1;
    this.bytes += length;
    const transit = arrivalMs - timestamp / 90;
    this.lastTransitMs = transit;
    if (transit < this.minTransitMs) this.minTransitMs = transit;
    if (this.firstAtMs === undefined) {
      this.firstAtMs = arrivalMs;
      this.#first = sequence;
      this.#highest = sequence;
      this.#maxSeq = sequence;
      return;
    }
    const delta = (sequence - this.#maxSeq) & 0xffff;
    if (delta === 0 || delta >= 0x8000) return; // duplicate or older than the highest
    if (sequence < this.#maxSeq) this.#cycles += 0x1_0000;
    this.#maxSeq = sequence;
    this.#highest = this.#cycles + sequence;
  }

  get expected(): number {
    return this.firstAtMs === undefined ? 0 : this.#highest - this.#first + 1;
  }

  get lost(): number {
    return this.expected - this.received;
  }
}
