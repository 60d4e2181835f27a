/**
 * The built-in demo camera: a short H.264 clip kept in the package
 * (assets/demo.h264, see assets/README.md), looped forever as one endless RTP
 * stream, so that `streammesh up` serves something at rtsp://.../demo with no
 * camera at all.
 *
 * The loop is invisible on the wire: one SSRC, sequence numbers and 90 kHz
 * timestamps that keep counting across the clip's end, and a clip that
 * starts with SPS, PPS and an IDR picture, so the decoder restarts clean at
 * the loop point as it would at any key frame.
 *
 * Pacing follows the clock, not the timer: frame slot k is due at
 * start + k * frameDuration and carries timestamp first + k * 3600, and each
 * tick sends whatever slots are due, so timer jitter never adds up. After a
 * long stall of the event loop the missed slots are skipped rather than
 * burst out: the timestamps jump with the wall clock (as a camera's would
 * across a hiccup) and the clip resumes where it was, since dropping coded
 * frames would leave the decoder without their references.
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSdesCname, ntpFromUnixMs, SenderReport } from '../../../src/protocol/rtcp/index.js';
import { parseSdp } from '../../../src/protocol/sdp/index.js';
import {
  groupAccessUnits,
  H264_CLOCK_RATE,
  H264NalType,
  H264Packetizer,
  isVclNalUnit,
  nalUnitType,
  splitAnnexB,
} from '../../../src/protocol/video/index.js';
import { Backoff } from '../../../src/shared/backoff.js';
import { errorMessage, StreammeshError } from '../../../src/shared/errors.js';
import { packageRoot } from '../../../src/shared/package-root.js';
import {
  describeTracks,
  type MediaSource,
  type SourceDescription,
  type SourceListener,
  type SourceState,
} from '../../../src/media/source/index.js';

export interface DemoSourceOptions {
  /** The Annex B H.264 clip to loop; default: assets/demo.h264 in the package. */
  readonly clipPath?: string;
  /** Wall clock in ms (default Date.now): paces the frames and dates the Sender Reports. */
  readonly now?: () => number;
  /** The clip's frame rate (an Annex B stream carries no timing of its own); default 25. */
  readonly frameRate?: number;
}

/** Where the demo clip is shipped: assets/demo.h264 under the package root. */
export function defaultDemoClipPath(): string {
  return join(packageRoot(), 'assets', 'demo.h264');
}

const TRACK = 0;
const PAYLOAD_TYPE = 96;
/** A tick every 10 ms sends each frame at most 10 ms late. */
const TICK_MS = 10;
/** Frames one tick may send after a stall; beyond this the missed slots are skipped. */
const MAX_CATCH_UP_FRAMES = 5;
/** RFC 3550 §6.2's recommended minimum interval between reports. */
const SENDER_REPORT_INTERVAL_MS = 5_000;
const CNAME = 'demo@streammesh';
/** A clip that cannot be read is tried again after 1 s, 2 s, ... up to a minute. */
const RELOAD_BACKOFF = { baseMs: 1_000, maxMs: 60_000 } as const;

interface DemoClip {
  /** Pictures in decoding order, each its NAL units without start codes. */
  readonly accessUnits: readonly (readonly Buffer[])[];
  readonly sps: Buffer;
  readonly pps: Buffer;
}

export class DemoSource implements MediaSource {
  readonly #clipPath: string;
  readonly #now: () => number;
  readonly #frameTicks: number;
  readonly #frameMs: number;
  readonly #backoff = new Backoff(RELOAD_BACKOFF);
  readonly #packetizer = new H264Packetizer({
    ssrc: randomInt(1, 0xffffffff),
    payloadType: PAYLOAD_TYPE,
    // RFC 3550 §5.1: random initial sequence number and timestamp.
    firstSequenceNumber: randomInt(0, 0x10000),
  });
  readonly #firstTimestamp = randomInt(0, 0xffffffff);
  #state: SourceState = 'idle';
  #lastError: string | null = null;
  #listener: SourceListener | null = null;
  #clip: DemoClip | null = null;
  /** The reload timeout while retrying, the pacing interval while playing. */
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Wall time at which frame slot 0 is due. */
  #startMs = 0;
  /** The next frame slot to send. */
  #nextSlot = 0;
  /** The clip's access unit that goes out next. */
  #clipIndex = 0;
  #lastReportMs: number | null = null;

  constructor(options: DemoSourceOptions = {}) {
    const frameRate = options.frameRate ?? 25;
    if (!Number.isFinite(frameRate) || frameRate <= 0 || frameRate > 1000) {
      throw new RangeError(`demo frame rate ${frameRate} is not in (0, 1000]`);
    }
    this.#clipPath = options.clipPath ?? defaultDemoClipPath();
    this.#now = options.now ?? Date.now;
    // Whole clock ticks per frame, and the frame duration derived from them,
    // so that timestamps and wall time never disagree.
    this.#frameTicks = Math.round(H264_CLOCK_RATE / frameRate);
    this.#frameMs = (this.#frameTicks * 1000) / H264_CLOCK_RATE;
  }

  get state(): SourceState {
    return this.#state;
  }

  /** In-process: no network between the clip and the proxy. */
  get transport(): null {
    return null;
  }

  /** A clip once loaded is never lost. */
  get reconnects(): number {
    return 0;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  start(listener: SourceListener): void {
    if (this.#state !== 'idle') {
      throw new StreammeshError('ERR_SOURCE_STATE', `DemoSource.start() when ${this.#state}`);
    }
    this.#listener = listener;
    this.#state = 'connecting';
    this.#load();
  }

  close(): Promise<void> {
    this.#state = 'closed';
    this.#listener = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    return Promise.resolve();
  }

  #load(): void {
    void readFile(this.#clipPath).then(
      (bytes) => {
        this.#loaded(bytes);
      },
      (error: unknown) => {
        this.#fail(`cannot read the demo clip: ${errorMessage(error)}`);
      },
    );
  }

  #loaded(bytes: Buffer): void {
    const listener = this.#listener;
    if (listener === null) return; // closed while reading
    const clip = parseClip(bytes);
    if (typeof clip === 'string') {
      this.#fail(`demo clip ${this.#clipPath}: ${clip}`);
      return;
    }
    const description = describeClip(clip);
    if (typeof description === 'string') {
      this.#fail(`demo clip ${this.#clipPath}: ${description}`);
      return;
    }
    this.#clip = clip;
    this.#backoff.reset();
    this.#state = 'playing';
    listener.ready(description);
    if (this.#listener === null) return; // closed from ready()
    this.#startMs = this.#now();
    this.#timer = setInterval(() => {
      this.#tick();
    }, TICK_MS);
    this.#tick();
  }

  /** Records the failure, says down() once (not again for each failed retry), retries later. */
  #fail(reason: string): void {
    const listener = this.#listener;
    if (listener === null) return;
    const wasDown = this.#state === 'retrying';
    this.#state = 'retrying';
    this.#lastError = reason;
    listener.failed?.({ message: reason, code: 'ERR_DEMO_CLIP' });
    if (!wasDown && this.#listener !== null) listener.down(reason);
    if (this.#listener === null) return; // closed from failed() or down()
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#load();
    }, this.#backoff.next());
  }

  /** Sends every frame slot that is due, then a Sender Report when one is. */
  #tick(): void {
    const listener = this.#listener;
    const clip = this.#clip;
    if (listener === null || clip === null) return;
    const now = this.#now();
    let due = Math.floor((now - this.#startMs) / this.#frameMs) + 1;
    if (due < this.#nextSlot - MAX_CATCH_UP_FRAMES) {
      // The clock went back (a wall clock set back): pace from here, as if
      // the next slot were due now.
      this.#startMs = now - this.#nextSlot * this.#frameMs;
      due = this.#nextSlot + 1;
    }
    if (due - this.#nextSlot > MAX_CATCH_UP_FRAMES) {
      this.#nextSlot = due - MAX_CATCH_UP_FRAMES;
    }
    for (; this.#nextSlot < due; this.#nextSlot++) {
      const accessUnit = clip.accessUnits[this.#clipIndex] ?? [];
      this.#clipIndex = (this.#clipIndex + 1) % clip.accessUnits.length;
      const timestamp = this.#firstTimestamp + this.#nextSlot * this.#frameTicks;
      for (const packet of this.#packetizer.packetize(accessUnit, timestamp)) {
        listener.rtp(TRACK, packet);
        if (this.#listener === null) return; // closed from rtp()
      }
    }
    if (this.#nextSlot > 0 && this.#reportDue(now)) {
      this.#lastReportMs = now;
      listener.rtcp(TRACK, this.#senderReport(now));
    }
  }

  #reportDue(now: number): boolean {
    const last = this.#lastReportMs;
    return last === null || now - last >= SENDER_REPORT_INTERVAL_MS || now < last;
  }

  /**
   * SR + SDES CNAME, the smallest compound RTCP packet (RFC 3550 §6.1). The
   * RTP timestamp is where the stream's clock stands at `now` on the same
   * line the frame slots lie on, so NTP and RTP time agree (§6.4.1).
   */
  #senderReport(now: number): Buffer {
    const ntp = ntpFromUnixMs(now);
    const elapsedTicks = Math.round(((now - this.#startMs) * H264_CLOCK_RATE) / 1000);
    const report = new SenderReport({
      ssrc: this.#packetizer.ssrc,
      ntpSeconds: ntp.seconds,
      ntpFraction: ntp.fraction,
      rtpTimestamp: (this.#firstTimestamp + elapsedTicks) >>> 0,
      packetCount: this.#packetizer.packetCount,
      octetCount: this.#packetizer.octetCount,
    });
    return Buffer.concat([report.serialize(), buildSdesCname(this.#packetizer.ssrc, CNAME)]);
  }
}

/**
 * The clip's pictures and parameter sets, or why it cannot be looped. AUDs
 * are dropped (in RTP the marker bit and the timestamp mark a picture's end,
 * RFC 6184 §5.1), and so are units that hold no picture, which would be a
 * timestamp with nothing to show.
 */
function parseClip(bytes: Buffer): DemoClip | string {
  const nals = splitAnnexB(bytes);
  const sps = nals.find((nal) => nalUnitType(nal) === H264NalType.SPS);
  const pps = nals.find((nal) => nalUnitType(nal) === H264NalType.PPS);
  if (sps === undefined || pps === undefined) return 'no SPS and PPS in the H.264 stream';
  // profile_idc, constraint flags, level_idc: the bytes profile-level-id names.
  if (sps.length < 4) return 'SPS too short';
  const accessUnits = groupAccessUnits(nals)
    .map((unit) => unit.filter((nal) => nalUnitType(nal) !== H264NalType.AUD))
    .filter((unit) => unit.some(isVclNalUnit));
  const first = accessUnits[0];
  // The loop restarts here: a decoder can only start over at an IDR picture.
  if (first?.some((nal) => nalUnitType(nal) === H264NalType.IDR_SLICE) !== true) {
    return 'the H.264 stream does not begin with an IDR picture';
  }
  return { accessUnits, sps, pps };
}

/** One H.264 video section (RFC 6184 §8.2.1), its fmtp from the clip's parameter sets. */
function describeClip(clip: DemoClip): SourceDescription | string {
  const profileLevelId = clip.sps.subarray(1, 4).toString('hex');
  const parameterSets = [clip.sps, clip.pps].map((nal) => nal.toString('base64')).join(',');
  const text = [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=streammesh demo camera',
    'c=IN IP4 0.0.0.0',
    't=0 0',
    `m=video 0 RTP/AVP ${PAYLOAD_TYPE}`,
    `a=rtpmap:${PAYLOAD_TYPE} H264/${H264_CLOCK_RATE}`,
    `a=fmtp:${PAYLOAD_TYPE} packetization-mode=1;profile-level-id=${profileLevelId};sprop-parameter-sets=${parameterSets}`,
    `a=control:trackID=${TRACK}`,
    '',
  ].join('\r\n');
  const parsed = parseSdp(text);
  if (!parsed.ok) return `cannot describe it in SDP: ${parsed.reason}`;
  return { sdp: parsed.sdp, tracks: describeTracks(parsed.sdp) };
}
