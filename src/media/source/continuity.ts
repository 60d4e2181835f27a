/**
 * Keeps one track's RTP numbering continuous for viewers across source
 * restarts. A camera that reconnects (or a new publisher) starts a new SSRC,
 * a random sequence number and a random timestamp; a player that saw those
 * jump would flush its jitter buffer, or treat the stream as ended. So every
 * packet leaves the proxy with the path's own SSRC, and sequence numbers and
 * timestamps shifted so that each source "epoch" continues where the last
 * one stopped:
 *
 *   out_seq = in_seq + seqOffset            (mod 2^16)
 *   out_ts  = in_ts  + tsOffset             (mod 2^32)
 *
 * The offsets are chosen at an epoch's first packet: the sequence number
 * follows the last one sent, and the timestamp advances by the wall-clock
 * time of the outage in the track's clock rate (RFC 3550 §5.1: timestamps
 * follow the sampling clock), so players keep a correct timeline.
 *
 * An epoch ends when the path says the source restarted, or when the SSRC
 * changes under us (a camera that restarted its encoder without dropping the
 * RTSP session).
 */
import {
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
  setRtpSequenceNumber,
  setRtpSsrc,
  setRtpTimestamp,
} from '../../protocol/rtp/index.js';

const RTCP_SR = 200;
/** SR header and sender info, without report blocks (RFC 3550 §6.4.1). */
const SR_LENGTH = 28;

export class TrackContinuity {
  /** The SSRC every viewer sees on this track, whatever the source. */
  readonly ssrc: number;
  readonly #clockRate: number;
  #inputSsrc: number | undefined;
  #seqOffset = 0;
  #tsOffset = 0;
  #sent = false;
  #lastSequence = 0;
  #lastTimestamp = 0;
  #lastSentMs = 0;
  #epochs = 0;
  /** The reference before the last rewrite moved it, while withdraw() may still undo it. */
  #undo:
    { readonly sequence: number; readonly timestamp: number; readonly sentMs: number } | undefined;

  constructor(clockRate: number, ssrc: number) {
    this.#clockRate = clockRate;
    this.ssrc = ssrc >>> 0;
    // Start numbering at a random point, as RFC 3550 §5.1 asks of a sender.
    this.#lastSequence = Math.floor(Math.random() * 0x10000);
    this.#lastTimestamp = Math.floor(Math.random() * 0x1_0000_0000);
  }

  /** Source epochs seen (1 after the first packet, +1 per restart). */
  get epochs(): number {
    return this.#epochs;
  }

  /** The sequence number the next packet will carry (for RTP-Info). */
  get nextSequence(): number {
    return (this.#lastSequence + 1) & 0xffff;
  }

  /** The timestamp of the last packet sent (a lower bound for RTP-Info). */
  get lastTimestamp(): number {
    return this.#lastTimestamp;
  }

  /** The source restarted: the next packet begins a new epoch. */
  restart(): void {
    this.#inputSsrc = undefined;
  }

  /** Rewrites SSRC, sequence number and timestamp of a checked RTP packet in place. */
  rewrite(packet: Buffer, nowMs: number): void {
    const ssrc = rtpSsrc(packet);
    const seq = rtpSequenceNumber(packet);
    const ts = rtpTimestamp(packet);
    if (ssrc !== this.#inputSsrc) this.#beginEpoch(ssrc, seq, ts, nowMs);
    const outSeq = (seq + this.#seqOffset) & 0xffff;
    const outTs = (ts + this.#tsOffset) >>> 0;
    // Only forward progress moves the reference: a reordered packet must not.
    if (((outSeq - this.#lastSequence) & 0xffff) < 0x8000) {
      this.#undo = {
        sequence: this.#lastSequence,
        timestamp: this.#lastTimestamp,
        sentMs: this.#lastSentMs,
      };
      this.#lastSequence = outSeq;
      this.#lastTimestamp = outTs;
      this.#lastSentMs = nowMs;
    } else {
      this.#undo = undefined;
    }
    setRtpSsrc(packet, this.ssrc);
    setRtpSequenceNumber(packet, outSeq);
    setRtpTimestamp(packet, outTs);
  }

  /**
   * The packet rewritten last reached no viewer (all of them wait for a
   * keyframe after a restart): the next packet takes its number, so a
   * viewer's numbering has no hole for a packet it was never meant to get.
   * Only right after rewrite(), once.
   */
  withdraw(): void {
    const undo = this.#undo;
    if (undo === undefined) return;
    this.#undo = undefined;
    this.#seqOffset = (this.#seqOffset - 1) & 0xffff;
    this.#lastSequence = undo.sequence;
    this.#lastTimestamp = undo.timestamp;
    this.#lastSentMs = undo.sentMs;
  }

  /**
   * The first Sender Report of an RTCP compound, rewritten for viewers (our
   * SSRC, the shifted RTP timestamp, no report blocks), or undefined when
   * the compound has none or this epoch has sent nothing yet. The rest of
   * the camera's RTCP is about its own session and is not forwarded.
   */
  senderReport(compound: Buffer): Buffer | undefined {
    if (this.#inputSsrc === undefined) return undefined;
    let offset = 0;
    while (offset + 4 <= compound.length) {
      const type = compound[offset + 1];
      const length = (compound.readUInt16BE(offset + 2) + 1) * 4;
      if (offset + length > compound.length) return undefined;
      if (type === RTCP_SR && length >= SR_LENGTH) {
        if (compound.readUInt32BE(offset + 4) !== this.#inputSsrc) return undefined;
        const report = Buffer.from(compound.subarray(offset, offset + SR_LENGTH));
        report[0] = 0x80; // V=2, no padding, RC=0
        report.writeUInt16BE(SR_LENGTH / 4 - 1, 2);
        report.writeUInt32BE(this.ssrc, 4);
        report.writeUInt32BE((report.readUInt32BE(16) + this.#tsOffset) >>> 0, 16);
        return report;
      }
      offset += length;
    }
    return undefined;
  }

  #beginEpoch(ssrc: number, seq: number, ts: number, nowMs: number): void {
    this.#inputSsrc = ssrc;
    this.#epochs += 1;
    const nextSeq = this.#lastSequence + 1;
    const gapMs = this.#sent ? Math.max(0, nowMs - this.#lastSentMs) : 0;
    // At least one tick forward, so the first packet of the epoch is "later".
    const gapTicks = this.#sent ? Math.max(1, Math.round((gapMs * this.#clockRate) / 1000)) : 0;
    this.#seqOffset = (nextSeq - seq) & 0xffff;
    this.#tsOffset = (this.#lastTimestamp + gapTicks - ts) >>> 0;
    this.#sent = true;
  }
}
