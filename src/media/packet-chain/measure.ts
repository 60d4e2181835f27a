/**
 * Measurement: RFC 3550 receiver statistics (loss, jitter, duplicates,
 * reordering) of the packet's stream, fed with the chain's arrival time.
 * Sets `packet.verdict` for the interceptors after it (`DuplicateFilter`);
 * drops only what the stream table refuses. Needs `RtpCheck` before it.
 */
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';
import type { StreamResolver } from './stream-table.js';

export class Measure implements Interceptor {
  readonly name = 'measure';
  readonly #streams: StreamResolver;

  constructor(streams: StreamResolver) {
    this.#streams = streams;
  }

  process(packet: MediaPacket): DropReason | undefined {
    const stream = this.#streams.resolve(packet);
    if (typeof stream === 'string') return stream;
    stream.lastSeenMs = packet.arrivalMs;
    packet.verdict = stream.quality.onRtp(
      packet.sequence,
      packet.timestamp,
      packet.payloadType,
      packet.buffer.length,
      packet.arrivalMs,
    );
    return PASS;
  }
}
