/**
 * Takes one payload type and gives it another number (the camera pull feeds
 * a Producer created with its own payload type): anything else is dropped
 * as 'unexpected_payload_type'. The marker bit is kept (RFC 3550 §5.1: M|PT
 * share byte 1). `from` may change while packets flow (a camera that came
 * back with another SDP).
 */
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export const UNEXPECTED_PAYLOAD_TYPE = 'unexpected_payload_type';

export class PayloadTypeMap implements Interceptor {
  readonly name = 'payload-type-map';
  from: number;
  readonly #to: number;

  constructor(from: number, to: number) {
    this.from = from;
    this.#to = to & 0x7f;
  }

  process(packet: MediaPacket): DropReason | undefined {
    if (packet.payloadType !== this.from) return UNEXPECTED_PAYLOAD_TYPE;
    const buffer = packet.buffer;
    buffer[1] = ((buffer[1] ?? 0) & 0x80) | this.#to;
    packet.payloadType = this.#to;
    return PASS;
  }
}
