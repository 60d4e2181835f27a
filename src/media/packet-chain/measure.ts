/**
 * Measurement: RFC 3550 receiver statistics (loss, jitter, duplicates,
 * reordering) of the packet's stream, fed with the chain's arrival time.
 * Sets `packet.verdict` for the interceptors after it (`DuplicateFilter`);
 * drops only what the stream table refuses. Needs `RtpCheck` before it.
 *
 * Bytes are `wireLength`, the convention of every byte figure of the chain
 * (`PacketCounter` too): the RTP packet as it arrived, header and any SRTP
 * tag included, UDP/IP or RTSP '$' framing not. It is what the sender put on
 * the link, the same whether or not a leg is SRTP-protected, so a route's
 * bitrate and byte counters agree with each other and with a capture.
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
      packet.wireLength,
      packet.arrivalMs,
    );
    return PASS;
  }
}
