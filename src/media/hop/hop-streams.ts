/**
 * The streams (SSRCs) one end of a hop measures, each with its RFC 3550
 * StreamQuality, bounded: a hop carries one camera's few streams, and an
 * authenticated peer inventing SSRCs must not grow memory without end.
 */
import { StreamQuality, type QualitySnapshot } from '../quality/index.js';
import { HopOptionsError } from './errors.js';
import type { HopEpoch } from './hop-epochs.js';
import type { HopEndOptions, HopPayloadType } from './hop-types.js';

export const defaultMaxHopStreams = 64;
const defaultPayloadType: HopPayloadType = { clockRate: 90_000, kind: 'video' };

export interface HopStream {
  readonly quality: StreamQuality;
  /** Sender only: the epoch this SSRC's RTP is protected with (it may lag a rotation). */
  epoch: HopEpoch | undefined;
}

export class HopStreams {
  readonly #streams = new Map<number, HopStream>();
  readonly #payloadTypes: ReadonlyMap<number, HopPayloadType>;
  readonly #max: number;

  constructor(options: HopEndOptions) {
    this.#payloadTypes = options.payloadTypes ?? new Map<number, HopPayloadType>();
    const max = options.maxStreams ?? defaultMaxHopStreams;
    if (!Number.isInteger(max) || max < 1) {
      throw new HopOptionsError('maxStreams', 'must be a positive integer');
    }
    this.#max = max;
  }

  /** The stream of `ssrc`, created on its first packet; undefined when the table is full. */
  get(ssrc: number, payloadType: number, nowMs: number): HopStream | undefined {
    const known = this.#streams.get(ssrc);
    if (known !== undefined) return known;
    if (this.#streams.size >= this.#max) return undefined;
    const { clockRate, kind } = this.#payloadTypes.get(payloadType) ?? defaultPayloadType;
    const stream: HopStream = {
      quality: new StreamQuality({ ssrc, clockRate, kind, startMs: nowMs }),
      epoch: undefined,
    };
    this.#streams.set(ssrc, stream);
    return stream;
  }

  /** An existing stream only (RTCP about an SSRC never sent creates nothing). */
  find(ssrc: number): HopStream | undefined {
    return this.#streams.get(ssrc);
  }

  values(): IterableIterator<HopStream> {
    return this.#streams.values();
  }

  snapshots(nowMs: number): QualitySnapshot[] {
    return [...this.#streams.values()].map((stream) => stream.quality.snapshot(nowMs));
  }
}
