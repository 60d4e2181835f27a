/**
 * Counts the packets (and their bytes on the wire) that reach its place in
 * the chain; never drops. Shared by the chains of one owner when the owner
 * reports one total (an RTSP path's tracks).
 */
import { PASS, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export class PacketCounter implements Interceptor {
  readonly name: string;
  packets = 0;
  bytes = 0;

  constructor(name = 'count') {
    this.name = name;
  }

  process(packet: MediaPacket): undefined {
    this.packets += 1;
    this.bytes += packet.wireLength;
    return PASS;
  }
}
