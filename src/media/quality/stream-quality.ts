/**
 * Receiver statistics for one SSRC as RFC 3550 Appendix A computes them, run
 * by every rtp-proxy hop on every packet of every stream.
 *
 * Sequence state (A.1 update_seq), with MIN_SEQUENTIAL = 2 and
 * MAX_DROPOUT = 3000 as in the RFC, and MAX_MISORDER = 128 rather than the
 * RFC's example 100: the misorder tolerance is the duplicate window, so a
 * packet this object can still judge (seen or not) is also one A.1 counts,
 * and there is no band of packets that is 'reordered' for the relay but
 * neither received nor lost for the RFC.
 *
 * Classification of a packet, by udelta = (seq - max_seq) mod 2^16:
 *
 *   probation     the first packets, until two arrive in sequence (A.1):
 *                   seq == the previous packet's seq     'duplicate'
 *                   anything else                        'ok'
 *   udelta == 0   the highest seq again                  'duplicate'
 *   0 < udelta < MAX_DROPOUT
 *                 ahead, gaps allowed                    'ok'
 *   udelta > 2^16 - MAX_MISORDER, i.e. 1..127 behind the highest seq: inside
 *                 the window of the last 128 extended seqs
 *                   its bit is set                       'duplicate'
 *                   otherwise                            'reordered'
 *   otherwise     a large jump (A.1 "bad_seq"):
 *                   seq == bad_seq: the second packet in sequence after the
 *                   jump; re-sync (A.1 init_seq)         'restart'
 *                   else (bad_seq := seq + 1, not counted by A.1):
 *                     ahead by MAX_DROPOUT .. 2^15-1     'restart' (may be one)
 *                     behind by 128 .. 2^15              'late'
 *
 * As in A.1, two consecutive packets behind the window also re-sync: a sender
 * that restarted at a lower seq looks exactly like that.
 *
 * 'late' is exactly: older than the 128-seq window, so it cannot be told from a
 * duplicate, and any jitter buffer holding less than 128 packets has already
 * played past it. A forward jump is announced by two 'restart' packets (the
 * candidate and the one that confirms it) and counts one restart; a lone
 * candidate counts none. A.3 counters (received, expected) follow A.1 exactly:
 * they start at the packet that ends probation (so a stream's first packet is
 * in `packets` but not in `expected`); duplicates inside the window count as
 * received, which is how `lost` goes negative; candidates are not counted; a
 * re-sync starts them afresh. Our own counters (packets, bytes, duplicates,
 * reordered, late, restarts) are never reset.
 *
 * Jitter (A.8) is updated, in arrival order, by every packet whose seq is new:
 * 'ok' (probation included) and 'reordered'. Duplicates and late packets would
 * add transit samples of packets already measured or long gone. A
 * discontinuity (confirmed restart, or a probation packet out of sequence)
 * re-seeds the previous transit without a sample: a new timestamp base would
 * otherwise add its whole offset / 16 to J. Arrival is converted to timestamp
 * units as arrivalMs * clockRate / 1000, in floating point (A.8 allows it).
 * tshark's RTP stream analysis applies the same recursion to each packet in
 * arrival order, reordered ones included; the two differ only on the samples
 * skipped here (duplicates, late packets, discontinuities), so on ordinary
 * streams they agree to well within the 10% the integration test allows.
 *
 * Per packet (`onRtp`): arithmetic on fields and one fixed Uint32Array; no
 * allocation, no Map, no closures, no clock reads. Memory is fixed per stream
 * (a 128-bit window, a 4-entry SR history) plus at most 32 downstream
 * reports, however long the stream runs.
 */
import { estimateMos } from './e-model.js';
import { QualityOptionsError } from './errors.js';
import type {
  DownstreamReport,
  MediaKind,
  MosCodec,
  PacketClass,
  QualitySnapshot,
  ReportBlockValues,
  StreamQualityOptions,
} from './quality-types.js';

export const MIN_SEQUENTIAL = 2;
export const MAX_DROPOUT = 3000;
/** Equal to SEQ_WINDOW on purpose; see the comment on top. */
export const MAX_MISORDER = 128;
/** Extended seqs remembered for duplicate detection (bits). */
export const SEQ_WINDOW = 128;
export const MAX_DOWNSTREAM_RECEIVERS = 32;
/** Upstream SRs remembered for RTT: receivers answer the latest, rarely one older. */
export const SR_HISTORY = 4;
/** Bitrate bucket length; the window is one full bucket plus the current one. */
export const BITRATE_BUCKET_MS = 1000;

const RTP_SEQ_MOD = 0x1_0000;
const UINT32_MAX = 0xffff_ffff;
const CUMULATIVE_LOST_MAX = 0x7f_ffff;
const CUMULATIVE_LOST_MIN = -0x80_0000;
/** |time| beyond this (about 285,000 years in ms) is taken as garbage. */
const MAX_TIME_MS = 2 ** 53;
/** Larger than any payload an RTP packet can carry; bigger `bytes` values count 0. */
const MAX_PACKET_BYTES = 0x1_0000;

interface DownstreamEntry {
  readonly fractionLost: number;
  readonly cumulativeLost: number;
  readonly jitterMs: number;
  readonly rttMs: number | null;
  readonly arrivalMs: number;
}

export class StreamQuality {
  readonly ssrc: number;
  readonly clockRate: number;
  readonly kind: MediaKind;
  readonly #codec: MosCodec | undefined;
  readonly #startMs: number;
  readonly #tsPerMs: number;

  // A.1 sequence state.
  #started = false;
  #probation = 0;
  #maxSeq = 0;
  /** Shifted count of wraps (a multiple of 2^16), as A.1 keeps it. */
  #cycles = 0;
  #baseSeq = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #received = 0;
  #receivedPrior = 0;
  #expectedPrior = 0;
  /** Bit (e mod 128) is set when extended seq e, within 127 of the max, was seen. */
  readonly #seen = new Uint32Array(SEQ_WINDOW / 32);

  // A.8 jitter, in timestamp units; the previous packet's timestamp and arrival.
  #jitter = 0;
  // Mean and maximum of J over the stream's life, as tshark's -z rtp,streams reports them.
  #jitterSum = 0;
  #jitterSamples = 0;
  #jitterMax = 0;
  #hasTransit = false;
  #lastTs = 0;
  #lastArrivalMs: number;

  // Counters.
  #packets = 0;
  #bytes = 0;
  #duplicates = 0;
  #reordered = 0;
  #late = 0;
  #restarts = 0;
  #payloadType = -1;

  // Bitrate: bytes in the current bucket and the one before it.
  #bucketStartMs: number;
  #bucketBytes = 0;
  #previousBucketBytes = 0;

  // §6.4.1: the last SR from upstream, and the last few (NTP middle 32, arrival)
  // pairs, so a downstream LSR naming one of them maps to this hop's clock.
  #lsr = 0;
  #lsrArrivalMs = 0;
  readonly #srNtp = new Uint32Array(SR_HISTORY);
  readonly #srArrivalMs = new Float64Array(SR_HISTORY);
  #srNext = 0;

  /** Insertion order is update order: the first key is the least recently updated. */
  readonly #downstream = new Map<string, DownstreamEntry>();

  constructor(options: StreamQualityOptions) {
    const { ssrc, clockRate, kind, startMs } = options;
    if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > UINT32_MAX) {
      throw new QualityOptionsError('ssrc', `must be an integer in 0..${UINT32_MAX}, got ${ssrc}`);
    }
    if (!Number.isInteger(clockRate) || clockRate <= 0 || clockRate > UINT32_MAX) {
      throw new QualityOptionsError('clockRate', `must be a positive integer, got ${clockRate}`);
    }
    if ((kind as string) !== 'audio' && (kind as string) !== 'video') {
      throw new QualityOptionsError('kind', `must be 'audio' or 'video', got ${kind as string}`);
    }
    if (!Number.isFinite(startMs)) {
      throw new QualityOptionsError('startMs', `must be a finite number, got ${startMs}`);
    }
    const codec: string | undefined = options.codec;
    if (codec !== undefined && codec !== 'g711' && codec !== 'opus') {
      throw new QualityOptionsError('codec', `must be 'g711' or 'opus', got ${codec}`);
    }
    this.ssrc = ssrc;
    this.clockRate = clockRate;
    this.kind = kind;
    this.#codec = options.codec;
    this.#startMs = startMs;
    this.#tsPerMs = clockRate / 1000;
    this.#lastArrivalMs = startMs;
    this.#bucketStartMs = startMs;
  }

  /**
   * Per packet. Never throws: out-of-range numbers are reduced to their wire
   * width (seq 16 bits, timestamp 32, payload type 7); a non-finite arrival
   * time is taken as the previous one; a `bytes` outside 0..65536 counts 0.
   */
  onRtp(
    sequence: number,
    rtpTimestamp: number,
    payloadType: number,
    bytes: number,
    arrivalMs: number,
  ): PacketClass {
    const seq = sequence & 0xffff;
    const ts = rtpTimestamp >>> 0;
    // One comparison pair also rejects NaN (and keeps every later product finite).
    const at =
      arrivalMs >= -MAX_TIME_MS && arrivalMs <= MAX_TIME_MS ? arrivalMs : this.#lastArrivalMs;
    const size = bytes > 0 && bytes <= MAX_PACKET_BYTES ? bytes : 0;

    this.#packets++;
    this.#bytes += size;
    const elapsed = at - this.#bucketStartMs;
    if (elapsed >= BITRATE_BUCKET_MS) {
      if (elapsed < 2 * BITRATE_BUCKET_MS) {
        this.#previousBucketBytes = this.#bucketBytes;
        this.#bucketStartMs += BITRATE_BUCKET_MS;
      } else {
        this.#previousBucketBytes = 0;
        this.#bucketStartMs = at - (elapsed % BITRATE_BUCKET_MS);
      }
      this.#bucketBytes = 0;
    }
    this.#bucketBytes += size;

    if (!this.#started) {
      // A.1: init_seq(s, seq); s->max_seq = seq - 1; s->probation = MIN_SEQUENTIAL.
      this.#started = true;
      this.#initSeq(seq);
      this.#maxSeq = (seq + 0xffff) & 0xffff;
      this.#probation = MIN_SEQUENTIAL;
    }

    if (this.#probation > 0) {
      if (seq === ((this.#maxSeq + 1) & 0xffff)) {
        this.#probation--;
        this.#maxSeq = seq;
        // During probation cycles is 0, so the extended seq is seq itself; a
        // shift by one clears exactly the bit being set.
        this.#setSeen(seq);
        if (this.#probation === 0) {
          this.#initSeq(seq);
          this.#received++;
        }
        this.#payloadType = payloadType & 0x7f;
        this.#updateJitter(ts, at);
        return 'ok';
      }
      if (seq === this.#maxSeq) {
        this.#probation = MIN_SEQUENTIAL - 1;
        this.#duplicates++;
        return 'duplicate';
      }
      this.#probation = MIN_SEQUENTIAL - 1;
      this.#maxSeq = seq;
      this.#clearSeen();
      this.#setSeen(seq);
      this.#payloadType = payloadType & 0x7f;
      this.#reseedJitter(ts, at);
      return 'ok';
    }

    const udelta = (seq - this.#maxSeq) & 0xffff;
    const extMax = this.#cycles + this.#maxSeq;

    if (udelta === 0) {
      // A.1 counts it (it falls in the "in order" branch).
      this.#received++;
      this.#duplicates++;
      return 'duplicate';
    }

    if (udelta < MAX_DROPOUT) {
      if (seq < this.#maxSeq) this.#cycles += RTP_SEQ_MOD;
      this.#maxSeq = seq;
      this.#received++;
      const extSeq = extMax + udelta;
      if (udelta >= SEQ_WINDOW) {
        this.#clearSeen();
      } else {
        for (let e = extMax + 1; e < extSeq; e++) this.#clearBit(e);
      }
      this.#setSeen(extSeq);
      this.#payloadType = payloadType & 0x7f;
      this.#updateJitter(ts, at);
      return 'ok';
    }

    if (udelta > RTP_SEQ_MOD - MAX_MISORDER) {
      // 1..127 behind the highest seq: inside the window.
      this.#received++;
      const extSeq = extMax - (RTP_SEQ_MOD - udelta);
      if (this.#isSeen(extSeq)) {
        this.#duplicates++;
        return 'duplicate';
      }
      this.#setSeen(extSeq);
      this.#reordered++;
      this.#payloadType = payloadType & 0x7f;
      this.#updateJitter(ts, at);
      return 'reordered';
    }

    // A large jump.
    if (seq === this.#badSeq) {
      // Two sequential packets: the other side restarted without telling us.
      this.#initSeq(seq);
      this.#received++;
      this.#restarts++;
      this.#clearSeen();
      this.#setSeen(seq - 1);
      this.#setSeen(seq);
      this.#payloadType = payloadType & 0x7f;
      this.#reseedJitter(ts, at);
      return 'restart';
    }
    this.#badSeq = (seq + 1) & 0xffff;
    if (udelta < 0x8000) return 'restart';
    this.#late++;
    return 'late';
  }

  /** The upstream sender's SR arrived: remember its NTP middle 32 bits for LSR/DLSR. */
  onSenderReport(ntpMiddle32: number, arrivalMs: number): void {
    this.#lsr = ntpMiddle32 >>> 0;
    this.#lsrArrivalMs = Number.isFinite(arrivalMs) ? arrivalMs : this.#lastArrivalMs;
    this.#srNtp[this.#srNext] = this.#lsr;
    this.#srArrivalMs[this.#srNext] = this.#lsrArrivalMs;
    this.#srNext = (this.#srNext + 1) % SR_HISTORY;
  }

  /**
   * The report block for this hop's next RR upstream (A.3). The interval behind
   * `fractionLost` runs from the previous call (or the last re-sync) to this one.
   */
  reportBlock(nowMs: number): ReportBlockValues {
    const expected = this.#expected();
    const received = this.#received;
    const lost = expected - received;
    const expectedInterval = expected - this.#expectedPrior;
    this.#expectedPrior = expected;
    const receivedInterval = received - this.#receivedPrior;
    this.#receivedPrior = received;
    const lostInterval = expectedInterval - receivedInterval;
    // A.3's (lost_interval << 8) / expected_interval; 256 (all lost) does not
    // fit the 8-bit field, so cap at 255.
    const fractionLost =
      expectedInterval <= 0 || lostInterval <= 0
        ? 0
        : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    let delaySinceLastSr = 0;
    if (this.#lsr !== 0) {
      const units = Math.round(((nowMs - this.#lsrArrivalMs) * 65_536) / 1000);
      delaySinceLastSr = units > 0 ? Math.min(units, UINT32_MAX) : 0;
    }
    return {
      ssrc: this.ssrc,
      fractionLost,
      cumulativeLost: Math.max(CUMULATIVE_LOST_MIN, Math.min(CUMULATIVE_LOST_MAX, lost)),
      highestSequence: (this.#cycles + this.#maxSeq) >>> 0,
      jitter: Math.min(Math.floor(this.#jitter), UINT32_MAX),
      lastSr: this.#lsr,
      delaySinceLastSr,
    };
  }

  /**
   * A downstream receiver's report block about this stream; keeps the latest
   * per `receiverKey`, at most MAX_DOWNSTREAM_RECEIVERS (the least recently
   * updated is evicted).
   *
   * RTT (§6.4.1) is A - LSR - DLSR with A and LSR on one clock. It is null
   * when LSR is 0 (no SR reached the receiver). Otherwise LSR is mapped to this
   * hop's clock when it can be:
   *
   * - LSR names one of the last SR_HISTORY SRs this hop saw (`onSenderReport`),
   *   which is the case when the hop relays the sender's SRs: that SR passed
   *   here at a known local time, so RTT = arrivalMs - that time - DLSR. This
   *   is the round trip hop -> receiver -> hop, whatever the sender's clock.
   * - Otherwise LSR is taken to be on the clock `nowNtpMiddle32` is read from
   *   (this hop originated the SR, or the clocks are synchronized):
   *   RTT = nowNtpMiddle32 - LSR - DLSR, and null if that is negative.
   *
   * The caller routes blocks to the right stream, so `block.ssrc` is not
   * checked (a hop may rewrite SSRCs).
   */
  onReceiverReport(
    receiverKey: string,
    block: Readonly<ReportBlockValues>,
    nowNtpMiddle32: number,
    arrivalMs: number,
  ): void {
    const at = Number.isFinite(arrivalMs) ? arrivalMs : this.#lastArrivalMs;
    const rttMs = this.#rttMs(block.lastSr >>> 0, block.delaySinceLastSr >>> 0, nowNtpMiddle32, at);
    const fraction = block.fractionLost >= 0 && block.fractionLost <= 255 ? block.fractionLost : 0;
    const jitter = block.jitter >= 0 && block.jitter <= UINT32_MAX ? block.jitter : 0;
    const entry: DownstreamEntry = {
      fractionLost: fraction / 256,
      cumulativeLost: Number.isFinite(block.cumulativeLost) ? block.cumulativeLost : 0,
      jitterMs: (jitter * 1000) / this.clockRate,
      rttMs,
      arrivalMs: at,
    };
    this.#downstream.delete(receiverKey);
    this.#downstream.set(receiverKey, entry);
    if (this.#downstream.size > MAX_DOWNSTREAM_RECEIVERS) {
      for (const oldest of this.#downstream.keys()) {
        this.#downstream.delete(oldest);
        break;
      }
    }
  }

  /** A downstream receiver left: drop its report now rather than on eviction. */
  forgetReceiver(receiverKey: string): void {
    this.#downstream.delete(receiverKey);
  }

  /** Values for metrics and the admin /streams JSON; changes nothing. */
  snapshot(nowMs: number): QualitySnapshot {
    const expected = this.#expected();
    const lost = expected - this.#received;
    const lossFraction = expected > 0 && lost > 0 ? Math.min(1, lost / expected) : 0;
    const jitterMs = this.#jitter / this.#tsPerMs;

    const downstream: DownstreamReport[] = [];
    let rttMs: number | null = null;
    for (const [receiver, entry] of this.#downstream) {
      downstream.push({
        receiver,
        fractionLost: entry.fractionLost,
        cumulativeLost: entry.cumulativeLost,
        jitterMs: entry.jitterMs,
        rttMs: entry.rttMs,
        ageMs: nowMs - entry.arrivalMs,
      });
      // Iteration runs oldest to newest: the last non-null is the freshest.
      if (entry.rttMs !== null) rttMs = entry.rttMs;
    }

    return {
      ssrc: this.ssrc,
      kind: this.kind,
      clockRate: this.clockRate,
      payloadType: this.#payloadType,
      packets: this.#packets,
      bytes: this.#bytes,
      bitrateBps: this.#bitrate(nowMs),
      expected,
      lost,
      lossFraction,
      jitterMs,
      jitterMeanMs:
        this.#jitterSamples === 0 ? 0 : this.#jitterSum / this.#jitterSamples / this.#tsPerMs,
      jitterMaxMs: this.#jitterMax / this.#tsPerMs,
      duplicates: this.#duplicates,
      reordered: this.#reordered,
      late: this.#late,
      restarts: this.#restarts,
      mos:
        this.kind === 'audio'
          ? estimateMos({ lossFraction, jitterMs, rttMs, codec: this.#mosCodec() })
          : null,
      downstream,
    };
  }

  #rttMs(lsr: number, dlsr: number, nowNtpMiddle32: number, arrivalMs: number): number | null {
    if (lsr === 0) return null;
    for (let i = 0; i < SR_HISTORY; i++) {
      if (this.#srNtp[i] === lsr) {
        const rtt = arrivalMs - (this.#srArrivalMs[i] ?? arrivalMs) - (dlsr * 1000) / 65_536;
        return rtt >= 0 ? rtt : null;
      }
    }
    const units = ((nowNtpMiddle32 >>> 0) - lsr - dlsr) | 0;
    return units >= 0 ? (units * 1000) / 65_536 : null;
  }

  /** A.3: extended max - base + 1 once the source is valid, 0 before. */
  #expected(): number {
    if (!this.#started || this.#probation > 0) return 0;
    return this.#cycles + this.#maxSeq - this.#baseSeq + 1;
  }

  /** A.1 init_seq. */
  #initSeq(seq: number): void {
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
  }

  /** A.8 in floating point, with transit differences taken modulo 2^32 timestamps. */
  #updateJitter(ts: number, arrivalMs: number): void {
    if (this.#hasTransit) {
      // D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}), R in timestamp units.
      let d = (arrivalMs - this.#lastArrivalMs) * this.#tsPerMs - ((ts - this.#lastTs) | 0);
      if (d < 0) d = -d;
      this.#jitter += (d - this.#jitter) / 16;
      this.#jitterSum += this.#jitter;
      this.#jitterSamples += 1;
      if (this.#jitter > this.#jitterMax) this.#jitterMax = this.#jitter;
    }
    this.#reseedJitter(ts, arrivalMs);
  }

  #reseedJitter(ts: number, arrivalMs: number): void {
    this.#hasTransit = true;
    this.#lastTs = ts;
    this.#lastArrivalMs = arrivalMs;
  }

  #isSeen(extSeq: number): boolean {
    const bit = extSeq & (SEQ_WINDOW - 1);
    return ((this.#seen[bit >>> 5] ?? 0) & (1 << (bit & 31))) !== 0;
  }

  #setSeen(extSeq: number): void {
    const bit = extSeq & (SEQ_WINDOW - 1);
    const word = bit >>> 5;
    this.#seen[word] = (this.#seen[word] ?? 0) | (1 << (bit & 31));
  }

  #clearBit(extSeq: number): void {
    const bit = extSeq & (SEQ_WINDOW - 1);
    const word = bit >>> 5;
    this.#seen[word] = (this.#seen[word] ?? 0) & ~(1 << (bit & 31));
  }

  #clearSeen(): void {
    this.#seen.fill(0);
  }

  #bitrate(nowMs: number): number {
    let start = this.#bucketStartMs;
    let current = this.#bucketBytes;
    let previous = this.#previousBucketBytes;
    const elapsed = nowMs - start;
    if (elapsed >= 2 * BITRATE_BUCKET_MS) return 0;
    if (elapsed >= BITRATE_BUCKET_MS) {
      previous = current;
      current = 0;
      start += BITRATE_BUCKET_MS;
    }
    const windowMs = nowMs - Math.max(start - BITRATE_BUCKET_MS, this.#startMs);
    // At least 1 ms, so a snapshot right at start-up cannot divide by ~0.
    return windowMs > 0 ? ((previous + current) * 8 * 1000) / Math.max(windowMs, 1) : 0;
  }

  #mosCodec(): MosCodec {
    if (this.#codec !== undefined) return this.#codec;
    return this.#payloadType === 0 || this.#payloadType === 8 ? 'g711' : 'opus';
  }
}
